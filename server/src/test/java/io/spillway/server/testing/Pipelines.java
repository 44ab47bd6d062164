package io.spillway.server.testing;

import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletionRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.JsonBody;
import io.spillway.server.wire.Requests;
import io.spillway.server.wire.Usage;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** Stages tested as they run, without a socket: typed requests in, events out. */
public final class Pipelines {

    private Pipelines() {
    }

    public static ChatRequest chat(String json) {
        return Requests.chat(JsonBody.parse(json.getBytes(StandardCharsets.UTF_8)));
    }

    public static CompletionRequest completion(String json) {
        return Requests.completion(JsonBody.parse(json.getBytes(StandardCharsets.UTF_8)));
    }

    public static GenerationRequest request(Caller caller, ChatRequest chat) {
        return new GenerationRequest("test-request", caller, chat, System.nanoTime());
    }

    /** Every event of {@code start}'s generation, up to its end. */
    public static List<GenerationEvent> events(Start start) {
        if (!(start instanceof Start.Accepted accepted)) {
            throw new AssertionError("expected a generation, got " + start);
        }
        return events(accepted.generation());
    }

    public static List<GenerationEvent> events(Generation generation) {
        List<GenerationEvent> events = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> ended = new CompletableFuture<>();
        generation.subscribe(Runnable::run, e -> {
            events.add(e);
            if (e.terminal()) {
                ended.complete(null);
            }
        });
        try {
            ended.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("the generation did not end; events so far: " + events, e);
        }
        return List.copyOf(events);
    }

    /** The concatenated text of one choice. */
    public static String text(List<GenerationEvent> events, int choice) {
        StringBuilder b = new StringBuilder();
        events.stream().filter(e -> e instanceof GenerationEvent.Delta d && d.choice() == choice)
                .forEach(e -> b.append(((GenerationEvent.Delta) e).text()));
        return b.toString();
    }

    /** A one-choice answer from {@code route}, given as pieces of text, with usage. */
    public static Generation answer(Route route, Usage usage, String... pieces) {
        List<GenerationEvent> events = new ArrayList<>();
        events.add(new GenerationEvent.Started(route, "model", Optional.empty(), CacheOutcome.BYPASS, 1, Optional.empty(), false));
        for (String p : pieces) {
            events.add(new GenerationEvent.Delta(0, p, new int[] {p.length()}, List.of()));
        }
        events.add(new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), false));
        events.add(new GenerationEvent.Completed(usage));
        return EventChannel.of(events);
    }

    /** A generator whose answers the test decides, remembering every request it was given. */
    public static class Scripted implements Generator {
        public final List<GenerationRequest> received = new CopyOnWriteArrayList<>();
        private final Function<GenerationRequest, Start> answers;

        public Scripted(Function<GenerationRequest, Start> answers) {
            this.answers = answers;
        }

        @Override
        public Start start(GenerationRequest request) {
            received.add(request);
            return answers.apply(request);
        }
    }
}
