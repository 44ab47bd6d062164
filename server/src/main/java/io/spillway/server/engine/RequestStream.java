package io.spillway.server.engine;

import io.spillway.models.sampling.Sample;
import io.spillway.server.generation.Mailbox;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * The output channel of one request: the engine thread publishes deltas without ever blocking; a
 * subscriber receives them in order on its own executor (a Netty event loop, say), one at a time.
 * Deltas published before anyone subscribes wait in the queue. A subscriber that falls behind
 * {@link #hold}s the request, so what waits for it stays bounded.
 */
public final class RequestStream {

    private final String requestId;
    private final Runnable canceller;
    private final Consumer<Boolean> holder;
    private final Mailbox<RequestDelta> deltas = new Mailbox<>();
    private final CompletableFuture<RequestDelta> first = new CompletableFuture<>();

    RequestStream(String requestId, Runnable canceller, Consumer<Boolean> holder) {
        this.requestId = requestId;
        this.canceller = canceller;
        this.holder = holder;
    }

    public String requestId() {
        return requestId;
    }

    /** Delivers every delta, past and future, to {@code consumer} on {@code executor}. Once per stream. */
    public void subscribe(Executor executor, Consumer<RequestDelta> consumer) {
        deltas.subscribe(executor, consumer);
    }

    /** Collects the whole result (for non-streaming callers). */
    public CompletableFuture<CompletedRequest> collect() {
        CompletableFuture<CompletedRequest> result = new CompletableFuture<>();
        CompletedRequest.Builder builder = new CompletedRequest.Builder(requestId);
        subscribe(Runnable::run, delta -> {
            builder.add(delta);
            if (delta.usage() != null || delta.error() != null) {
                result.complete(builder.build());
            }
        });
        return result;
    }

    /**
     * Completes with the first delta the engine publishes: a token, or the request's end without
     * one (withdrawn, aborted, failed). Peeking does not consume: subscribers still get it.
     */
    public CompletableFuture<RequestDelta> firstDelta() {
        return first.copy();
    }

    /** Asks the engine to stop this request and free its KV blocks (e.g. the client went away). */
    public void cancel() {
        canceller.run();
    }

    /**
     * Stops the engine from scheduling this request until {@link #release}: its reader is not
     * keeping up, and what it has not read must stay bounded.
     */
    public void hold() {
        holder.accept(true);
    }

    public void release() {
        holder.accept(false);
    }

    /** Engine side: never blocks. */
    void publish(RequestDelta delta) {
        deltas.post(delta);
        first.complete(delta);
    }

    /** Everything a finished request produced, per sample. */
    public record CompletedRequest(String requestId, List<Choice> choices, RequestDelta.Usage usage, String error) {

        public record Choice(int index, String text, int[] tokenIds, List<Sample> logprobs, FinishReason finishReason, Object stopReason) {
        }

        static final class Builder {
            private final String requestId;
            private final List<StringBuilder> texts = new ArrayList<>();
            private final List<List<Integer>> ids = new ArrayList<>();
            private final List<List<Sample>> logprobs = new ArrayList<>();
            private final List<FinishReason> reasons = new ArrayList<>();
            private final List<Object> stops = new ArrayList<>();
            private RequestDelta.Usage usage;
            private String error;

            Builder(String requestId) {
                this.requestId = requestId;
            }

            void add(RequestDelta d) {
                while (texts.size() <= d.index()) {
                    texts.add(new StringBuilder());
                    ids.add(new ArrayList<>());
                    logprobs.add(new ArrayList<>());
                    reasons.add(null);
                    stops.add(null);
                }
                texts.get(d.index()).append(d.text());
                for (int t : d.tokenIds()) {
                    ids.get(d.index()).add(t);
                }
                logprobs.get(d.index()).addAll(d.logprobs());
                if (d.finishReason() != null) {
                    reasons.set(d.index(), d.finishReason());
                    stops.set(d.index(), d.stopReason());
                }
                if (d.usage() != null) {
                    usage = d.usage();
                }
                if (d.error() != null) {
                    error = d.error();
                }
            }

            CompletedRequest build() {
                List<Choice> choices = new ArrayList<>();
                for (int i = 0; i < texts.size(); i++) {
                    choices.add(new Choice(i, texts.get(i).toString(), ids.get(i).stream().mapToInt(Integer::intValue).toArray(),
                            List.copyOf(logprobs.get(i)), reasons.get(i), stops.get(i)));
                }
                return new CompletedRequest(requestId, List.copyOf(choices), usage, error);
            }
        }
    }
}
