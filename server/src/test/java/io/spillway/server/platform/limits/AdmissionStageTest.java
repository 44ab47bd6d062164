package io.spillway.server.platform.limits;

import static io.spillway.server.testing.Pipelines.answer;
import static io.spillway.server.testing.Pipelines.chat;
import static io.spillway.server.testing.Pipelines.events;
import static io.spillway.server.testing.Pipelines.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Usage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Model confinement, rate limits and budgets as a stage, on a real (SQLite) ledger. */
class AdmissionStageTest {

    private static final ChatRequest HI = chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");

    private Database db;
    private SpendLedger ledger;

    @BeforeEach
    void open() throws Exception {
        Path dir = Files.createTempDirectory("spillway-admission");
        db = Database.open("jdbc:sqlite:" + dir.resolve("spillway.db"), "", "");
        ledger = new SpendLedger(db, Clock.systemUTC());
    }

    @AfterEach
    void close() {
        db.close();
    }

    private static Caller key(String id, KeyPolicy policy) {
        return new Caller(id, "acme", "owner", "", true, policy);
    }

    private AdmissionStage stage(Pipelines.Scripted inner) {
        return new AdmissionStage(inner, new RateLimiter(Duration.ofMinutes(1)), Optional.of(ledger), new PrometheusRegistry());
    }

    private static Pipelines.Scripted answering(Usage usage, CacheOutcome cache) {
        return new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), cache, 0, Optional.empty(), false),
                new GenerationEvent.Completed(usage)))));
    }

    @Test
    void aKeyConfinedToOtherModelsGets403AndNothingRuns() {
        Pipelines.Scripted inner = new Pipelines.Scripted(r -> new Start.Accepted(answer(Route.LOCAL, Usage.NONE, "x")));
        OpenAiException e = assertThrows(OpenAiException.class, () -> stage(inner).start(request(key("k1",
                new KeyPolicy(Set.of("other"), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty())), HI)));
        assertEquals(403, e.status());
        assertEquals("model_not_allowed", e.code());
        assertEquals(0, inner.received.size());
    }

    @Test
    void requestsOverTheWindowsLimitGet429WithRetryAfter() {
        AdmissionStage stage = stage(answering(Usage.NONE, CacheOutcome.MISS));
        Caller caller = key("k2", new KeyPolicy(Set.of(), false, 1, 0, 0, false, Optional.empty(), false, Optional.empty()));
        events(stage.start(request(caller, HI)));
        OpenAiException e = assertThrows(OpenAiException.class, () -> stage.start(request(caller, HI)));
        assertEquals(429, e.status());
        assertEquals("rate_limit_exceeded", e.code());
        assertTrue(e.retryAfterSeconds() >= 1);
    }

    @Test
    void whatAnAnswerCostsIsChargedBeforeItsEndReachesTheCallerAndASpentBudgetRefuses() {
        AdmissionStage stage = stage(answering(new Usage(100, 50, 0, 0.02), CacheOutcome.MISS));
        Caller caller = key("k3", new KeyPolicy(Set.of(), false, 0, 0, 0.03, false, Optional.empty(), false, Optional.empty()));
        events(stage.start(request(caller, HI)));
        assertEquals(0.02, ledger.spent("k3").costUsd(), 1e-12);
        events(stage.start(request(caller, HI)));
        OpenAiException e = assertThrows(OpenAiException.class, () -> stage.start(request(caller, HI)));
        assertEquals(429, e.status());
        assertEquals("insufficient_quota", e.code());
    }

    @Test
    void aReusedAnswerCostsNothing() {
        Caller caller = key("k4", new KeyPolicy(Set.of(), false, 0, 0, 1, false, Optional.empty(), false, Optional.empty()));
        for (CacheOutcome reused : List.of(CacheOutcome.HIT, CacheOutcome.SEMANTIC, CacheOutcome.DEDUP)) {
            events(stage(answering(new Usage(100, 50, 0, 0.5), reused)).start(request(caller, HI)));
        }
        assertEquals(0, ledger.spent("k4").costUsd(), 1e-12);
    }
}
