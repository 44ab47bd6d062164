package io.spillway.server.api;

import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.Refusal;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.http.Exchange;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletedChoice;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.GenerationBody;
import io.spillway.server.wire.Logprob;
import io.spillway.server.wire.OpenAiEncoder;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.ResponseHead;
import io.spillway.server.wire.StopReason;
import io.spillway.server.wire.ToolCall;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;

/**
 * Turns a generation into its HTTP response: one JSON body, or Server-Sent Events as the events
 * come. The response's headers (x-spillway-route, x-spillway-route-reason, x-spillway-cache) are
 * written here, once, from the generation's Started event.
 */
final class GenerationResponder {

    static final String ROUTE_HEADER = "x-spillway-route";
    /** Why the route was taken and what became of personal data on the way, comma-separated: "queue_wait,pseudonymized". */
    static final String ROUTE_REASON_HEADER = "x-spillway-route-reason";
    static final String CACHE_HEADER = "x-spillway-cache";
    private static final String EVENT_STREAM = "text/event-stream; charset=utf-8";
    /**
     * What one stream may hold for a reader that does not keep up, beyond what the connection
     * buffers: a paused local generation stops within a step, so this only catches what was in
     * flight, or a remote stream that cannot pause. Past it the reader is dropped.
     */
    static final int MAX_PENDING_BYTES = 1 << 20;
    static final int MAX_PENDING_EVENTS = 8192;

    private final OpenAiEncoder encoder;
    private final Clock clock;

    GenerationResponder(OpenAiEncoder encoder, Clock clock) {
        this.encoder = encoder;
        this.clock = clock;
    }

    /** Answers {@code ex} with what {@code start} gave: a refusal's 503, or the generation. */
    void respond(Exchange ex, GenerationBody body, Start start, Outcome outcome) {
        switch (start) {
            case Start.Refused r -> {
                String reasons = String.join(",", r.routeReasons());
                if (!reasons.isEmpty()) {
                    outcome.started("-", reasons, "-");
                }
                ApiErrors.respond(ex, encoder, refused(r.refusal()), reasons.isEmpty() ? Map.of() : Map.of(ROUTE_REASON_HEADER, reasons));
            }
            case Start.Accepted a -> {
                Generation generation = a.generation();
                ex.onClose(generation::cancel);
                Response response = new Response(ex, body, outcome, generation);
                ex.onWritable(response::writable);
                generation.subscribe(ex.eventLoop(), response::on);
            }
        }
    }

    /** A refusal nobody could route around, in the words of the 503 it becomes. */
    static OpenAiException refused(Refusal refusal) {
        return switch (refusal) {
            case Refusal.QueueFull q -> OpenAiException.overloaded("The server is overloaded: " + q.detail() + ". Retry shortly.",
                    q.retryAfterSeconds());
            case Refusal.WaitTooLong w -> new OpenAiException(503, "server_error", "The local queue is too long for this request: "
                    + w.detail() + ".", null, "queue_wait", w.retryAfterSeconds());
            case Refusal.DeadlinePassed d -> new OpenAiException(503, "server_error", "The local queue did not start this request within"
                    + " its wait limit.", null, "queue_deadline", d.retryAfterSeconds());
            case Refusal.Unavailable u -> new OpenAiException(503, "server_error", "The local model cannot serve: " + u.detail() + ".",
                    null, "engine_unavailable", u.retryAfterSeconds());
        };
    }

    /** One response's state; its events arrive one at a time on the exchange's event loop. */
    private final class Response {
        private final Exchange ex;
        private final GenerationBody body;
        private final Outcome outcome;
        private ResponseHead head;
        private Map<String, String> headers = Map.of();
        private Exchange.Stream stream;
        private OpenAiEncoder.Chunks chunks;
        private final TreeMap<Integer, ChoiceParts> choices = new TreeMap<>();
        private final Generation generation;
        /** Events the connection could not take yet, oldest first. */
        private final ArrayDeque<byte[]> pending = new ArrayDeque<>();
        private long pendingBytes;
        private boolean paused;
        private boolean ending;

        Response(Exchange ex, GenerationBody body, Outcome outcome, Generation generation) {
            this.ex = ex;
            this.body = body;
            this.outcome = outcome;
            this.generation = generation;
        }

        /**
         * Sends one event, or keeps it while the connection is full and pauses the generation:
         * a client that stops reading stops its generation, and what waits for it stays bounded.
         */
        private void send(byte[] event) {
            if (pending.isEmpty() && ex.writable()) {
                stream.send(event);
                return;
            }
            pending.add(event);
            pendingBytes += event.length;
            if (!paused) {
                paused = true;
                generation.pause();
            }
            if (pendingBytes > MAX_PENDING_BYTES || pending.size() > MAX_PENDING_EVENTS) {
                pending.clear();
                generation.cancel();
                ex.closeConnection();
            }
        }

        /** The connection takes more: what waited goes first, then the generation resumes. */
        void writable() {
            if (stream == null) {
                return;
            }
            while (!pending.isEmpty() && ex.writable()) {
                byte[] event = pending.poll();
                pendingBytes -= event.length;
                stream.send(event);
            }
            if (!pending.isEmpty()) {
                return;
            }
            if (ending) {
                stream.end();
            } else if (paused) {
                paused = false;
                generation.resume();
            }
        }

        private void endStream() {
            ending = true;
            if (pending.isEmpty()) {
                stream.end();
            }
        }

        void on(GenerationEvent event) {
            switch (event) {
                case GenerationEvent.Started s -> start(s);
                case GenerationEvent.Delta d -> delta(d);
                case GenerationEvent.ReasoningDelta r -> {
                    if (stream != null) {
                        if (!r.text().isEmpty()) {
                            send(chunks.reasoning(r.choice(), r.text()));
                        }
                    } else {
                        choices.computeIfAbsent(r.choice(), ChoiceParts::new).reasoning.append(r.text());
                    }
                }
                case GenerationEvent.ToolCallDelta t -> {
                    if (stream != null) {
                        send(chunks.toolCall(t.choice(), t.call(), t.id(), t.name(), t.arguments()));
                    } else {
                        choices.computeIfAbsent(t.choice(), ChoiceParts::new).add(t);
                    }
                }
                case GenerationEvent.Finished f -> {
                    if (stream != null) {
                        send(chunks.finish(f.choice(), f.reason(), f.stop()));
                    } else {
                        choices.computeIfAbsent(f.choice(), ChoiceParts::new).finish(f.reason(), f.stop());
                    }
                }
                case GenerationEvent.Screened s -> {
                }
                case GenerationEvent.Completed c -> {
                    outcome.completed(c.usage().promptTokens(), c.usage().completionTokens());
                    if (stream != null) {
                        if (head.includeUsage()) {
                            send(chunks.usage(c.usage()));
                        }
                        send(chunks.done());
                        endStream();
                    } else {
                        List<CompletedChoice> done = new ArrayList<>();
                        choices.values().forEach(p -> done.add(p.completed()));
                        ex.respond(200, "application/json", encoder.completion(head, done, c.usage()), headers);
                    }
                }
                case GenerationEvent.Failed f -> {
                    if (stream != null) {
                        send(chunks.error(f.error()));
                        send(chunks.done());
                        endStream();
                    } else {
                        ApiErrors.respond(ex, encoder, f.error(), headers);
                    }
                }
            }
        }

        private void start(GenerationEvent.Started s) {
            boolean chat = body instanceof ChatRequest;
            String reasons = String.join(",", s.routeReasons());
            outcome.started(s.route().wireName(), reasons.isEmpty() ? "-" : reasons, s.cache().header());
            headers = reasons.isEmpty() ? Map.of(ROUTE_HEADER, s.route().wireName(), CACHE_HEADER, s.cache().header())
                    : Map.of(ROUTE_HEADER, s.route().wireName(), ROUTE_REASON_HEADER, reasons, CACHE_HEADER, s.cache().header());
            head = new ResponseHead((chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", ""), chat,
                    clock.instant().getEpochSecond(), s.model(), s.systemFingerprint(),
                    chat ? Optional.of(s.route().wireName()) : Optional.empty(), s.sources(),
                    body.options().returnTokenIds() || s.tokenOutput(), body.options().logprobs().isPresent(),
                    s.route() == Route.BEDROCK, body.delivery().includeUsage());
            if (!body.delivery().stream()) {
                return;
            }
            stream = ex.openStream(EVENT_STREAM, headers);
            chunks = encoder.chunks(head);
            if (chat) {
                for (int i = 0; i < s.choices(); i++) {
                    send(chunks.role(i));
                }
            }
        }

        private void delta(GenerationEvent.Delta d) {
            if (stream == null) {
                choices.computeIfAbsent(d.choice(), ChoiceParts::new).add(d);
                return;
            }
            boolean visible = !d.text().isEmpty() || (head.showLogprobs() && !d.logprobs().isEmpty())
                    || (head.showTokenIds() && d.tokenIds().length > 0);
            if (visible) {
                send(chunks.delta(d.choice(), d.text(), d.tokenIds(), d.logprobs()));
            }
        }
    }

    /** One choice of a body being collected. */
    private static final class ChoiceParts {
        private final int index;
        private final StringBuilder text = new StringBuilder();
        private final StringBuilder reasoning = new StringBuilder();
        private final TreeMap<Integer, String[]> calls = new TreeMap<>();
        private final List<Integer> ids = new ArrayList<>();
        private final List<Logprob> logprobs = new ArrayList<>();
        private FinishReason reason = FinishReason.STOP;
        private Optional<StopReason> stop = Optional.empty();

        ChoiceParts(int index) {
            this.index = index;
        }

        void add(GenerationEvent.Delta d) {
            text.append(d.text());
            for (int id : d.tokenIds()) {
                ids.add(id);
            }
            logprobs.addAll(d.logprobs());
        }

        void add(GenerationEvent.ToolCallDelta t) {
            String[] call = calls.computeIfAbsent(t.call(), c -> new String[] {"", "", ""});
            t.id().ifPresent(id -> call[0] = id);
            t.name().ifPresent(name -> call[1] = name);
            call[2] += t.arguments();
        }

        void finish(FinishReason finishReason, Optional<StopReason> stopReason) {
            this.reason = finishReason;
            this.stop = stopReason;
        }

        CompletedChoice completed() {
            List<ToolCall> toolCalls = new ArrayList<>();
            calls.values().forEach(c -> toolCalls.add(new ToolCall(c[0], c[1], c[2])));
            return new CompletedChoice(index, text.toString(), reasoning.isEmpty() ? Optional.empty() : Optional.of(reasoning.toString()),
                    toolCalls, ids.stream().mapToInt(Integer::intValue).toArray(), logprobs, reason, stop);
        }
    }
}
