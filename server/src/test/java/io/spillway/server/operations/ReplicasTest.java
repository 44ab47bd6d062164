package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.store.Rows;
import io.spillway.server.testing.ServerProcess;
import io.spillway.server.testing.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two Spillway server processes sharing one PostgreSQL database, as two pods behind one Service:
 * collections, rate limits and the semantic cache agree whichever replica a request reaches.
 */
class ReplicasTest {

    /** collections.sync-interval-ms of both replicas: the stated bound on a write's arrival without notifications. */
    static final int SYNC_MS = 500;
    private static final String MODEL = DemoModel.NAME;
    private static String url;
    private static ServerProcess a;
    private static ServerProcess b;
    /** Every request needs a key once one exists; this one has no limits. */
    private static String key;
    private static String limited;

    static String config(String url, Path data, String extra) {
        return """
                server:
                  host: 127.0.0.1
                  port: 0
                engine:
                  kv-cache-bytes: 67108864
                collections:
                  store: database
                  data-dir: %s
                  sync-interval-ms: %d
                database:
                  url: "%s"
                audit:
                  dir: %s
                """.formatted(data.resolve("collections"), SYNC_MS, url, data.resolve("audit")) + extra;
    }

    @BeforeAll
    static void start() throws Exception {
        url = TestPostgres.freshDatabase("replicas");
        try (Database db = Database.open(url, "", "")) {
            KeyStore keys = new KeyStore(db, Clock.systemUTC());
            key = keys.create("acme", "unlimited", Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty()).secret();
            limited = keys.create("acme", "thirty", Set.of(), false, 30, 0, 0, false, Optional.empty(), false, Optional.empty()).secret();
        }
        Path dir = Files.createTempDirectory("spillway-replicas");
        String extra = """
                keys:
                  limit-window-seconds: 3600
                cache:
                  semantic-threshold: 0.9
                """;
        a = ServerProcess.start("a", dir.resolve("a"), config(url, dir.resolve("a"), extra));
        b = ServerProcess.start("b", dir.resolve("b"), config(url, dir.resolve("b"), extra));
        System.out.printf("replicas listening after %d ms and %d ms%n", a.startup().toMillis(), b.startup().toMillis());
    }

    @AfterAll
    static void stop() throws Exception {
        for (ServerProcess p : new ServerProcess[] {a, b}) {
            if (p != null) {
                p.close();
            }
        }
        if (url != null) {
            TestPostgres.drop(url);
        }
    }

    private static ServerProcess.Reply ok(ServerProcess.Reply r) {
        assertEquals(200, r.status(), r.body());
        return r;
    }

    @Test
    void aDocumentIngestedThroughAIsRetrievedThroughBAndADeleteThroughBDisappearsOnA() throws Exception {
        ok(a.post("/v1/collections", "{\"name\": \"handbook\"}", key));
        long seq = ok(a.post("/v1/collections/handbook/documents", """
                {"documents": [{"id": "travel", "text": "Hotels are reimbursed up to 180 euros per night."}]}""", key))
                .json().path("seq").asLong();
        assertTrue(seq > 0);

        // With the sequence number: at once, on the other replica.
        JsonNode found = ok(b.post("/v1/collections/handbook/query",
                "{\"text\": \"hotel budget\", \"top_k\": 1, \"min_seq\": " + seq + "}", key)).json();
        assertEquals("travel", found.at("/data/0/document_id").asText(), found.toString());
        assertTrue(found.path("seq").asLong() >= seq, "the query says what it saw: " + found);
        ServerProcess.Reply rag = ok(b.post("/v1/chat/completions", """
                {"model": "%s", "max_tokens": 4, "messages": [{"role": "user", "content": "What hotel rate is allowed?"}],
                 "rag": {"collection": "handbook", "top_k": 2, "min_seq": %d}}""".formatted(MODEL, seq), key));
        assertEquals("travel#0", rag.json().at("/sources/0/id").asText(), rag.body());
        ServerProcess.Reply badSeq = b.post("/v1/chat/completions", "{\"model\": \"" + MODEL + "\", \"messages\": [{\"role\": \"user\","
                + " \"content\": \"x\"}], \"rag\": {\"collection\": \"handbook\", \"min_seq\": -1}}", key);
        assertEquals(400, badSeq.status(), badSeq.body());
        assertEquals("rag.min_seq", badSeq.json().at("/error/param").asText());

        // Without it: within the stated bound (notified writes arrive in milliseconds).
        long t0 = System.nanoTime();
        long second = ok(a.post("/v1/collections/handbook/documents", """
                {"documents": [{"id": "leave", "text": "Employees get 30 days of paid leave a year."}]}""", key)).json().path("seq").asLong();
        long seen;
        while (true) {
            JsonNode q = ok(b.post("/v1/collections/handbook/query", "{\"text\": \"paid leave days\", \"top_k\": 1}", key)).json();
            if (q.path("seq").asLong() >= second) {
                assertEquals("leave", q.at("/data/0/document_id").asText(), q.toString());
                seen = System.nanoTime();
                break;
            }
            assertTrue(System.nanoTime() - t0 < (SYNC_MS + 2000) * 1_000_000L, "B sees A's write within the sync interval and 2 s");
            Thread.sleep(5);
        }
        System.out.printf("a write through A was visible through B without min_seq after %.1f ms (bound: %d ms + applying)%n",
                (seen - t0) / 1e6, SYNC_MS);

        // A sequence number no replica has: a bounded wait, then 503 with Retry-After.
        ServerProcess.Reply ahead = b.post("/v1/collections/handbook/query", "{\"text\": \"x\", \"min_seq\": " + (second + 1000) + "}", key);
        assertEquals(503, ahead.status(), ahead.body());
        assertEquals("replica_behind", ahead.json().at("/error/code").asText());
        assertTrue(ahead.header("retry-after") != null);

        ServerProcess.Reply deleted = ok(b.delete("/v1/collections/handbook/documents/travel", key));
        long deleteSeq = deleted.json().path("seq").asLong();
        JsonNode afterDelete = ok(a.post("/v1/collections/handbook/query",
                "{\"text\": \"hotel budget\", \"top_k\": 5, \"min_seq\": " + deleteSeq + "}", key)).json();
        for (JsonNode hit : afterDelete.path("data")) {
            assertTrue(!hit.path("document_id").asText().equals("travel"), "deleted through B, gone on A: " + afterDelete);
        }
        assertEquals(404, a.get("/v1/collections/handbook/vectors/travel%230", key).status());
    }

    @Test
    void aThousandInterleavedUpsertsAndDeletesFromBothSidesLeaveBothIndexesEqualToTheTable() throws Exception {
        ok(a.post("/v1/collections", "{\"name\": \"mixed\", \"dimension\": 8, \"metric\": \"euclidean\"}", key));
        int ids = 150;
        List<Future<Integer>> sides = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            int side = 0;
            for (ServerProcess s : new ServerProcess[] {a, b, a, b}) {
                Random rnd = new Random(++side);
                sides.add(pool.submit(() -> {
                    int failures = 0;
                    for (int i = 0; i < 250; i++) {
                        String id = "v" + rnd.nextInt(ids);
                        ServerProcess.Reply r;
                        if (rnd.nextInt(3) == 0) {
                            r = s.delete("/v1/collections/mixed/vectors/" + id, key);
                            failures += r.status() == 200 || r.status() == 404 ? 0 : 1;
                        } else {
                            StringBuilder v = new StringBuilder();
                            for (int d = 0; d < 8; d++) {
                                v.append(d == 0 ? "" : ",").append(rnd.nextGaussian());
                            }
                            r = s.post("/v1/collections/mixed/vectors", "{\"vectors\": [{\"id\": \"" + id + "\", \"vector\": [" + v
                                    + "], \"metadata\": {\"n\": " + i + "}}]}", key);
                            failures += r.status() == 200 ? 0 : 1;
                        }
                    }
                    return failures;
                }));
            }
            for (Future<Integer> f : sides) {
                assertEquals(0, f.get(), "every write was answered 200 (or 404 for a delete of nothing)");
            }
        }
        // The table, as the truth.
        Map<String, float[]> table = new HashMap<>();
        long lastSeq;
        try (Database db = Database.open(url, "", "")) {
            lastSeq = db.run(c -> {
                try (PreparedStatement s = c.prepareStatement("SELECT i.id, i.vector, c.last_seq FROM vector_collections c LEFT JOIN"
                        + " vector_items i ON i.collection_id = c.id WHERE c.name = 'mixed'")) {
                    long last = 0;
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            if (r.getString(1) != null) {
                                table.put(r.getString(1), Rows.vector(r.getBytes(2)));
                            }
                            last = r.getLong(3);
                        }
                    }
                    return last;
                }
            });
        }
        assertTrue(lastSeq > 600, "most of the 1,000 operations were writes: " + lastSeq);
        for (ServerProcess s : new ServerProcess[] {a, b}) {
            // Both have applied everything (the wait is the min_seq one).
            ok(s.post("/v1/collections/mixed/query", "{\"vector\": [0,0,0,0,0,0,0,0], \"min_seq\": " + lastSeq + "}", key));
            assertEquals(table.size(), ok(s.get("/v1/collections/mixed", key)).json().path("count").asInt(), s.name());
            for (int i = 0; i < ids; i++) {
                String id = "v" + i;
                ServerProcess.Reply r = s.get("/v1/collections/mixed/vectors/" + id, key);
                if (!table.containsKey(id)) {
                    assertEquals(404, r.status(), s.name() + " holds " + id + ", which the table does not");
                    continue;
                }
                assertEquals(200, r.status(), s.name() + " lacks " + id);
                float[] v = new float[8];
                for (int d = 0; d < 8; d++) {
                    v[d] = (float) r.json().path("vector").get(d).asDouble();
                }
                assertArrayEquals(table.get(id), v, s.name() + ": " + id);
            }
        }
        System.out.printf("1,000 interleaved operations: %d writes committed, %d records left, equal on both replicas%n", lastSeq, table.size());
    }

    @Test
    void aKeyLimitedToThirtyRequestsGetsThirtyAcrossBothReplicas() throws Exception {
        int admitted = 0;
        int refused = 0;
        for (int i = 0; i < 60; i++) {
            ServerProcess s = i % 2 == 0 ? a : b;
            ServerProcess.Reply r = s.post("/v1/chat/completions", """
                    {"model": "%s", "max_tokens": 1, "messages": [{"role": "user", "content": "hi %d"}]}""".formatted(MODEL, i), limited);
            if (r.status() == 200) {
                admitted++;
            } else {
                assertEquals(429, r.status(), r.body());
                assertEquals("rate_limit_exceeded", r.json().at("/error/code").asText());
                refused++;
            }
        }
        assertEquals(30, admitted, "30 in total across both replicas, not 30 each");
        assertEquals(30, refused);
    }

    @Test
    void aParaphraseCachedThroughAIsASemanticHitThroughB() throws Exception {
        String sampling = "\"temperature\": 0.8, \"max_tokens\": 16, \"semantic_cache\": true";
        ServerProcess.Reply original = ok(a.post("/v1/chat/completions", """
                {"model": "%s", "messages": [{"role": "user", "content": "How do I reset my password?"}], %s}""".formatted(MODEL, sampling), key));
        assertEquals("miss", original.header("x-spillway-cache"));
        // B has A's entry once its index holds one: the shared cache follows the log like a collection.
        long t0 = System.nanoTime();
        while (b.metric("spillway_semantic_cache_entries") < 1) {
            assertTrue(System.nanoTime() - t0 < (SYNC_MS + 5000) * 1_000_000L, "B applies A's cache entry");
            Thread.sleep(10);
        }
        ServerProcess.Reply paraphrase = ok(b.post("/v1/chat/completions", """
                {"model": "%s", "messages": [{"role": "user", "content": "How can I reset my password?"}], %s}""".formatted(MODEL, sampling), key));
        assertEquals("semantic", paraphrase.header("x-spillway-cache"));
        assertEquals(original.json().at("/choices/0/message/content"), paraphrase.json().at("/choices/0/message/content"));
    }
}
