package io.spillway.server.platform.cache;

import static io.spillway.server.testing.Pipelines.answer;
import static io.spillway.server.testing.Pipelines.chat;
import static io.spillway.server.testing.Pipelines.events;
import static io.spillway.server.testing.Pipelines.request;
import static io.spillway.server.testing.Pipelines.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.Usage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/** The exact cache and in-flight de-duplication as a stage, on typed requests and events. */
class CacheStageTest {

    private static final ChatRequest DETERMINISTIC = chat("{\"model\":\"m\",\"temperature\":0,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    private static final ChatRequest SAMPLED = chat("{\"model\":\"m\",\"temperature\":0.7,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    private final Pipelines.Scripted inner = new Pipelines.Scripted(r -> new Start.Accepted(answer(Route.LOCAL, new Usage(3, 2, 0, 0),
            "Hello", " there")));

    private CacheStage stage(Pipelines.Scripted generator) {
        return new CacheStage(generator, Optional.of(new ResponseCache(1 << 20, Duration.ofMinutes(5))), Optional.empty(), true,
                new PrometheusRegistry());
    }

    private static CacheOutcome outcome(List<GenerationEvent> events) {
        return ((GenerationEvent.Started) events.get(0)).cache();
    }

    @Test
    void aDeterministicAnswerIsStoredAndReplayedWithoutGenerating() {
        CacheStage stage = stage(inner);
        List<GenerationEvent> first = events(stage.start(request(Caller.ANONYMOUS, DETERMINISTIC)));
        List<GenerationEvent> second = events(stage.start(request(Caller.ANONYMOUS, DETERMINISTIC)));
        assertEquals(CacheOutcome.MISS, outcome(first));
        assertEquals(CacheOutcome.HIT, outcome(second));
        assertEquals("Hello there", text(second, 0));
        assertEquals(new Usage(3, 2, 0, 0), ((GenerationEvent.Completed) second.get(second.size() - 1)).usage());
        assertEquals(1, inner.received.size(), "the second answer came from the cache");
    }

    @Test
    void deliveryDoesNotSplitTheCacheButEveryOtherFieldDoes() {
        CacheStage stage = stage(inner);
        events(stage.start(request(Caller.ANONYMOUS, DETERMINISTIC)));
        ChatRequest streamed = chat("{\"model\":\"m\",\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        ChatRequest longer = chat("{\"model\":\"m\",\"temperature\":0,\"max_tokens\":7,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertEquals(CacheOutcome.HIT, outcome(events(stage.start(request(Caller.ANONYMOUS, streamed)))));
        assertEquals(CacheOutcome.MISS, outcome(events(stage.start(request(Caller.ANONYMOUS, longer)))));
        Caller other = new Caller("k2", "acme", "o", "", true, KeyPolicy.DEFAULT);
        assertEquals(CacheOutcome.MISS, outcome(events(stage.start(request(other, DETERMINISTIC)))), "another key's cache");
    }

    @Test
    void sampledRequestsBypassTheCache() {
        CacheStage stage = stage(inner);
        assertEquals(CacheOutcome.BYPASS, outcome(events(stage.start(request(Caller.ANONYMOUS, SAMPLED)))));
        assertEquals(CacheOutcome.BYPASS, outcome(events(stage.start(request(Caller.ANONYMOUS, SAMPLED)))));
        assertEquals(2, inner.received.size());
    }

    @Test
    void anAnswerCutShortIsNotStored() {
        Pipelines.Scripted aborting = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.BYPASS, 1, Optional.empty(), false),
                new GenerationEvent.Delta(0, "Hel", new int[] {1}, List.of()),
                new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), true),
                new GenerationEvent.Completed(new Usage(3, 1, 0, 0))))));
        CacheStage stage = stage(aborting);
        events(stage.start(request(Caller.ANONYMOUS, DETERMINISTIC)));
        assertEquals(CacheOutcome.MISS, outcome(events(stage.start(request(Caller.ANONYMOUS, DETERMINISTIC)))));
        assertEquals(2, aborting.received.size());
    }

    /** A generation the test feeds by hand, noting whether it was cancelled. */
    private static final class Manual {
        final AtomicBoolean cancelled = new AtomicBoolean();
        final EventChannel channel = new EventChannel(() -> cancelled.set(true));
    }

    @Test
    void identicalRequestsInFlightRunOnceAndTheFollowerGetsTheSameAnswer() throws Exception {
        Manual leader = new Manual();
        Pipelines.Scripted slow = new Pipelines.Scripted(r -> new Start.Accepted(leader.channel));
        CacheStage stage = stage(slow);
        Generation first = ((Start.Accepted) stage.start(request(Caller.ANONYMOUS, DETERMINISTIC))).generation();
        Generation second = ((Start.Accepted) stage.start(request(Caller.ANONYMOUS, DETERMINISTIC))).generation();
        List<GenerationEvent> leaderEvents = new ArrayList<>();
        first.subscribe(Runnable::run, leaderEvents::add);
        leader.channel.publish(new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.BYPASS, 1, Optional.empty(),
                false));
        leader.channel.publish(new GenerationEvent.Delta(0, "Hello", new int[] {1}, List.of()));
        CompletableFuture<List<GenerationEvent>> follower = CompletableFuture.supplyAsync(() -> events(second));
        leader.channel.publish(new GenerationEvent.Delta(0, " there", new int[] {2}, List.of()));
        leader.channel.publish(new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), false));
        leader.channel.publish(new GenerationEvent.Completed(new Usage(3, 2, 0, 0)));
        List<GenerationEvent> followed = follower.get(10, TimeUnit.SECONDS);
        assertEquals(1, slow.received.size(), "one generation served both");
        assertEquals("Hello there", text(followed, 0));
        assertEquals(CacheOutcome.DEDUP, outcome(followed));
        assertEquals(CacheOutcome.MISS, outcome(leaderEvents));
    }

    @Test
    void aLeaderWhoseClientLeavesDoesNotCutItsFollowerShort() {
        Manual leader = new Manual();
        CacheStage stage = stage(new Pipelines.Scripted(r -> new Start.Accepted(leader.channel)));
        Generation first = ((Start.Accepted) stage.start(request(Caller.ANONYMOUS, DETERMINISTIC))).generation();
        Generation second = ((Start.Accepted) stage.start(request(Caller.ANONYMOUS, DETERMINISTIC))).generation();
        Consumer<GenerationEvent> ignore = e -> {
        };
        first.subscribe(Runnable::run, ignore);
        first.cancel();
        assertFalse(leader.cancelled.get(), "a follower still waits for the answer");
        second.subscribe(Runnable::run, ignore);
        second.cancel();
        assertTrue(leader.cancelled.get(), "nobody waits any more");
    }
}
