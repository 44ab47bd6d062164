package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.testing.TestServers;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Caches, de-duplication, keys, limits and budgets through the HTTP API of a real server, on one
 * database; the subclasses run it on SQLite and on PostgreSQL.
 */
abstract class PlatformApiTest {

    private static final String MODEL = DemoModel.NAME;
    private SpillwayServer server;
    /** An unlimited key: the database may already hold keys (PostgreSQL is shared by the run), so every call needs one. */
    private String key;

    /** The JDBC URL the servers of this run share (so a restart sees the same keys and spend). */
    abstract String databaseUrl();

    private SpillwayServer start(Map<String, String> overrides) throws Exception {
        Map<String, String> all = new HashMap<>(overrides);
        all.put("database.url", databaseUrl());
        all.put("keys.limit-window-seconds", "2");
        server = TestServers.start(all, """
                router:
                  models:
                    - name: %s
                      local: true
                      input-price-per-1k: 1.0
                      output-price-per-1k: 2.0
                """.formatted(MODEL));
        key = server.keys().create("acme", "unlimited", Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty()).secret();
        return server;
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static String unique() {
        return "tell me about " + UUID.randomUUID();
    }

    private long generated() throws InterruptedException {
        Thread.sleep(100); // engine stats refresh every step and every idle tick
        return server.engine().stats().generatedTokens();
    }

    @Test
    void aRepeatedDeterministicRequestIsServedFromTheCacheInEitherForm() throws Exception {
        start(Map.of());
        Api api = new Api(server);
        String body = Api.chat(MODEL, unique(), "\"temperature\": 0");
        Api.Reply first = api.post("/v1/chat/completions", body, key);
        assertEquals(200, first.status());
        assertEquals("miss", first.header("x-spillway-cache"));
        long before = generated();
        Api.Reply second = api.post("/v1/chat/completions", body, key);
        assertEquals("hit", second.header("x-spillway-cache"));
        assertEquals(first.content(), second.content());
        assertEquals(first.json().get("usage"), second.json().get("usage"));
        assertTrue(!first.json().get("id").equals(second.json().get("id")), "a fresh response id");
        Api.Reply streamed = api.post("/v1/chat/completions", body.replace("\"temperature\": 0", "\"temperature\": 0, \"stream\": true"), key);
        assertEquals("hit", streamed.header("x-spillway-cache"));
        assertEquals(first.content(), streamed.content());
        assertEquals(before, generated(), "cache hits generate nothing");
        // Sampling without a seed is never cached.
        Api.Reply sampled = api.post("/v1/chat/completions", Api.chat(MODEL, unique(), "\"temperature\": 1"), key);
        assertEquals("miss", sampled.header("x-spillway-cache"));
        String metrics = api.get("/metrics");
        assertTrue(metrics.contains("spillway_cache_requests_total{result=\"hit\"} 2.0"), metrics);
    }

    @Test
    void twentyIdenticalConcurrentRequestsRunOnceAndEveryCallerGetsTheAnswer() throws Exception {
        start(Map.of("engine.max-num-seqs", "1"));
        Api api = new Api(server);
        for (boolean stream : new boolean[] {false, true}) {
            String body = Api.chat(MODEL, unique(), "\"temperature\": 0, \"max_tokens\": 48, \"stream\": " + stream);
            long before = generated();
            CountDownLatch go = new CountDownLatch(1);
            List<Future<Api.Reply>> replies = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 20; i++) {
                    replies.add(pool.submit(() -> {
                        go.await();
                        return api.post("/v1/chat/completions", body, key);
                    }));
                }
                go.countDown();
                String content = null;
                for (Future<Api.Reply> f : replies) {
                    Api.Reply r = f.get();
                    assertEquals(200, r.status());
                    assertNotNull(r.content());
                    content = content == null ? r.content() : content;
                    assertEquals(content, r.content(), "every caller gets the same answer");
                }
            }
            assertEquals(48, generated() - before, "one generation of 48 tokens served twenty callers (stream " + stream + ")");
        }
        assertTrue(api.get("/metrics").contains("spillway_dedup_followers_total"));
    }

    @Test
    void aKeyOverItsTokenLimitGets429AndRecoversAfterTheWindow() throws Exception {
        start(Map.of());
        KeyStore.Created key = server.keys().create("acme", "limited", Set.of(), false, 0, 30, 0, false, Optional.empty(), false, Optional.empty());
        Api api = new Api(server);
        assertEquals(401, api.post("/v1/chat/completions", Api.chat(MODEL, "hi", ""), null).status(), "keys are required once one exists");
        assertEquals(401, api.post("/v1/chat/completions", Api.chat(MODEL, "hi", ""), "sk-spw-000000000000-wrong").status());
        String sampled = Api.chat(MODEL, "hello there", "\"temperature\": 1, \"max_tokens\": 24, \"ignore_eos\": true");
        Api.Reply first = api.post("/v1/chat/completions", sampled, key.secret());
        assertEquals(200, first.status(), first.raw().body());
        Api.Reply refused = api.post("/v1/chat/completions", sampled, key.secret());
        assertEquals(429, refused.status());
        assertEquals("rate_limit_exceeded", refused.json().path("error").path("code").asText());
        assertTrue(refused.json().path("error").path("message").asText().contains("tokens per window"), refused.raw().body());
        assertNotNull(refused.header("retry-after"));
        // The window is 2 s: the key is admitted again once its tokens age out of it. Refused
        // requests use nothing, so asking again is how to watch for that.
        Api.Reply again = refused;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (again.status() == 429 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            again = api.post("/v1/chat/completions", sampled, key.secret());
        }
        assertEquals(200, again.status(), "admitted again once the window has passed: " + again.raw().body());
    }

    @Test
    void aSpentBudgetRefusesRequestsAndSurvivesARestart() throws Exception {
        start(Map.of());
        // One request costs (prompt tokens + 2 x 24) / 1000 dollars at these prices: more than the budget.
        KeyStore.Created key = server.keys().create("acme", "budgeted", Set.of(), false, 0, 0, 0.03, false, Optional.empty(), false, Optional.empty());
        String sampled = Api.chat(MODEL, "hello there", "\"temperature\": 1, \"max_tokens\": 24, \"ignore_eos\": true");
        Api api = new Api(server);
        assertEquals(200, api.post("/v1/chat/completions", sampled, key.secret()).status());
        Api.Reply refused = api.post("/v1/chat/completions", sampled, key.secret());
        assertEquals(429, refused.status());
        assertEquals("insufficient_quota", refused.json().path("error").path("code").asText());
        server.close();
        server = null;
        start(Map.of());
        Api.Reply afterRestart = new Api(server).post("/v1/chat/completions", sampled, key.secret());
        assertEquals(429, afterRestart.status(), "the spend is in the database");
        assertEquals("insufficient_quota", afterRestart.json().path("error").path("code").asText());
        KeyStore.Created other = server.keys().create("acme", "fresh", Set.of(), false, 0, 0, 0.03, false, Optional.empty(), false, Optional.empty());
        assertEquals(200, new Api(server).post("/v1/chat/completions", sampled, other.secret()).status(), "budgets are per key");
    }

    @Test
    void aKeyIsConfinedToItsModelsAndARevokedKeyStopsWorking() throws Exception {
        start(Map.of());
        KeyStore.Created narrow = server.keys().create("acme", "narrow", Set.of("some-other-model"), false, 0, 0, 0, false,
                Optional.empty(), false, Optional.empty());
        KeyStore.Created broad = server.keys().create("acme", "broad", Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty());
        Api api = new Api(server);
        Api.Reply denied = api.post("/v1/chat/completions", Api.chat(MODEL, "hi", ""), narrow.secret());
        assertEquals(403, denied.status());
        assertEquals("model_not_allowed", denied.json().path("error").path("code").asText());
        assertEquals(200, api.post("/v1/chat/completions", Api.chat(MODEL, "hi", ""), broad.secret()).status());
        assertTrue(server.keys().revoke(broad.key().id()));
        assertEquals(401, api.post("/v1/chat/completions", Api.chat(MODEL, "hi", ""), broad.secret()).status());
    }
}
