package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.platform.keys.Database;
import io.spillway.server.testing.ServerProcess;
import io.spillway.server.testing.TestPostgres;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replicas of the shared store under faults, as real processes on a real PostgreSQL: a replica
 * SIGKILLed in the middle of an ingest, replicas that start after 10,000 writes (from their
 * snapshot and the log, and from nothing), and PostgreSQL itself crashed and restarted under load.
 * What is checked each time is the promise: nothing acknowledged is lost, and every replica ends
 * up holding exactly what the tables hold.
 */
class ReplicaFaultsTest {

    private static final int DIM = 16;

    @TempDir
    Path tmp;

    private static String config(String url, Path data, String extra) {
        return ReplicasTest.config(url, data, """
                embeddings:
                  model: none
                """ + extra);
    }

    private static String vectors(String... ids) {
        Random rnd = new Random(String.join(",", ids).hashCode());
        StringBuilder b = new StringBuilder("{\"vectors\": [");
        for (int i = 0; i < ids.length; i++) {
            b.append(i == 0 ? "" : ",").append("{\"id\": \"").append(ids[i]).append("\", \"vector\": [");
            for (int d = 0; d < DIM; d++) {
                b.append(d == 0 ? "" : ",").append(rnd.nextGaussian());
            }
            b.append("]}");
        }
        return b.append("]}").toString();
    }

    /** The table's ids of a collection, and its last sequence number. */
    private record Table(Set<String> ids, long lastSeq) {
    }

    private static Table table(String url, String collection) {
        try (Database db = Database.open(url, "", "")) {
            return db.run(c -> {
                Set<String> ids = new HashSet<>();
                long last = 0;
                try (PreparedStatement s = c.prepareStatement("SELECT i.id, c.last_seq FROM vector_collections c LEFT JOIN vector_items i"
                        + " ON i.collection_id = c.id WHERE c.name = ?")) {
                    s.setString(1, collection);
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            if (r.getString(1) != null) {
                                ids.add(r.getString(1));
                            }
                            last = r.getLong(2);
                        }
                    }
                }
                return new Table(ids, last);
            });
        }
    }

    /** Checks that a replica holds exactly the table's records, once it has applied the table's last write. */
    private static void holdsExactly(ServerProcess s, String collection, Table table, Set<String> absent) throws Exception {
        ServerProcess.Reply q = s.post("/v1/collections/" + collection + "/query", "{\"vector\": " + zero() + ", \"min_seq\": "
                + table.lastSeq() + "}");
        assertEquals(200, q.status(), s.name() + ": " + q.body());
        assertEquals(table.ids().size(), s.get("/v1/collections/" + collection, null).json().path("count").asInt(), s.name());
        for (String id : table.ids()) {
            assertEquals(200, s.get("/v1/collections/" + collection + "/vectors/" + id, null).status(), s.name() + " lacks " + id);
        }
        for (String id : absent) {
            assertEquals(404, s.get("/v1/collections/" + collection + "/vectors/" + id, null).status(), s.name() + " holds " + id);
        }
    }

    private static String zero() {
        return "[" + "0,".repeat(DIM - 1) + "1]";
    }

    @Test
    void aReplicaKilledMidIngestLosesNoAcknowledgedWrite() throws Exception {
        String url = TestPostgres.freshDatabase("sigkill");
        ServerProcess a = null;
        ServerProcess b = null;
        try {
            a = ServerProcess.start("a", tmp.resolve("a"), config(url, tmp.resolve("a"), ""));
            b = ServerProcess.start("b", tmp.resolve("b"), config(url, tmp.resolve("b"), ""));
            assertEquals(200, a.post("/v1/collections", "{\"name\": \"ingest\", \"dimension\": " + DIM + "}").status());
            Set<String> acknowledged = ConcurrentHashMap.newKeySet();
            Set<String> attempted = ConcurrentHashMap.newKeySet();
            AtomicInteger acks = new AtomicInteger();
            ServerProcess target = a;
            List<Future<?>> writers = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(3)) {
                for (int w = 0; w < 3; w++) {
                    int writer = w;
                    writers.add(pool.submit(() -> {
                        for (int n = 0; ; n++) {
                            String[] ids = new String[10];
                            for (int k = 0; k < ids.length; k++) {
                                ids[k] = "w" + writer + "-" + n + "-" + k;
                            }
                            attempted.addAll(List.of(ids));
                            try {
                                if (target.post("/v1/collections/ingest/vectors", vectors(ids)).status() == 200) {
                                    acknowledged.addAll(List.of(ids));
                                    acks.incrementAndGet();
                                }
                            } catch (IOException killed) {
                                return null;
                            }
                        }
                    }));
                }
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
                while (acks.get() < 60) {
                    assertTrue(System.nanoTime() < deadline, "60 acknowledged writes within 2 minutes; got " + acks.get());
                    Thread.sleep(5);
                }
                a.kill();
                for (Future<?> f : writers) {
                    f.get(60, TimeUnit.SECONDS);
                }
            }
            a = ServerProcess.start("a", tmp.resolve("a"), config(url, tmp.resolve("a"), ""));
            Table table = table(url, "ingest");
            Set<String> lost = new HashSet<>(acknowledged);
            lost.removeAll(table.ids());
            assertEquals(Set.of(), lost, "acknowledged writes missing from the table");
            Set<String> unacknowledged = new HashSet<>(table.ids());
            unacknowledged.removeAll(acknowledged);
            assertTrue(unacknowledged.size() <= 3 * 10, "only writes in flight at the kill may be committed unacknowledged: "
                    + unacknowledged.size());
            Set<String> never = new HashSet<>(attempted);
            never.removeAll(table.ids());
            for (ServerProcess s : List.of(a, b)) {
                holdsExactly(s, "ingest", table, never);
            }
            System.out.printf("SIGKILL mid-ingest: %d writes acknowledged (%d records), %d committed unacknowledged, %d never committed;"
                    + " both replicas hold exactly the table's %d records at seq %d%n", acks.get(), acknowledged.size(),
                    unacknowledged.size(), never.size(), table.ids().size(), table.lastSeq());
        } finally {
            for (ServerProcess s : new ServerProcess[] {a, b}) {
                if (s != null) {
                    s.close();
                }
            }
            TestPostgres.drop(url);
        }
    }

    @Test
    void aReplicaStartedAfterTenThousandWritesCatchesUpFromItsSnapshotAndTheLogAndFromNothing() throws Exception {
        String url = TestPostgres.freshDatabase("latejoiner");
        ServerProcess a = null;
        ServerProcess c = null;
        ServerProcess d = null;
        try {
            a = ServerProcess.start("a", tmp.resolve("a"), config(url, tmp.resolve("a"), ""));
            c = ServerProcess.start("c", tmp.resolve("c"), config(url, tmp.resolve("c"), ""));
            assertEquals(200, a.post("/v1/collections", "{\"name\": \"late\", \"dimension\": " + DIM + "}").status());
            write(a, 0, 2_000);
            assertEquals(200, c.post("/v1/collections/late/query", "{\"vector\": " + zero() + ", \"min_seq\": 2000}").status());
            assertEquals(0, c.stop(), "a graceful stop");
            write(a, 2_000, 10_000);
            Table table = table(url, "late");
            assertEquals(10_000, table.lastSeq());

            c = ServerProcess.start("c", tmp.resolve("c"), config(url, tmp.resolve("c"), ""));
            assertTrue(c.log().contains("anonymous/late: local index from seq 2000, 8000 changes applied"),
                    c.log());
            assertEquals(10_000, c.get("/v1/collections/late", null).json().path("seq").asLong(), "caught up before it listens");
            holdsExactly(c, "late", table, Set.of());
            System.out.printf("late joiner with its snapshot at seq 2000: listening, at seq 10000, after %d ms%n", c.startup().toMillis());

            d = ServerProcess.start("d", tmp.resolve("d"), config(url, tmp.resolve("d"), ""));
            assertTrue(d.log().contains("/late: rebuilt from the tables at seq 10000 (10000 records)"), d.log());
            assertEquals(10_000, d.get("/v1/collections/late", null).json().path("seq").asLong());
            holdsExactly(d, "late", table, Set.of());
            System.out.printf("late joiner from nothing: listening, at seq 10000, after %d ms%n", d.startup().toMillis());
        } finally {
            for (ServerProcess s : new ServerProcess[] {a, c, d}) {
                if (s != null) {
                    s.close();
                }
            }
            TestPostgres.drop(url);
        }
    }

    /** Writes records {@code from} to {@code to}, one write each, from four clients. */
    private static void write(ServerProcess s, int from, int to) throws Exception {
        AtomicInteger next = new AtomicInteger(from);
        List<Future<?>> clients = new ArrayList<>();
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            for (int w = 0; w < 4; w++) {
                clients.add(pool.submit(() -> {
                    for (int i; (i = next.getAndIncrement()) < to; ) {
                        ServerProcess.Reply r = s.post("/v1/collections/late/vectors", vectors("r" + i));
                        assertEquals(200, r.status(), r.body());
                    }
                    return null;
                }));
            }
            for (Future<?> f : clients) {
                f.get(10, TimeUnit.MINUTES);
            }
        }
    }

    private static void postgres(String command, Path dir) throws Exception {
        Process p = new ProcessBuilder(Path.of("..", ".ci", "postgres").toString(), command, dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, ".ci/postgres " + command + ": " + out);
    }

    @Test
    void postgresRestartedUnderLoadLosesNothingAcknowledgedAndReplicasResume() throws Exception {
        TestPostgres.url(); // needs PostgreSQL installed, as the run's does
        Path pg = Files.createTempDirectory("spillway-pg-restart");
        ProcessBuilder startPg = new ProcessBuilder(Path.of("..", ".ci", "postgres").toString(), "start", pg.toString());
        startPg.environment().put("SPILLWAY_PG_DURABLE", "1");
        Process started = startPg.start();
        String url = new String(started.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, started.waitFor(), "a durable PostgreSQL of its own: " + url);
        ServerProcess a = null;
        ServerProcess b = null;
        try {
            // A short wait for a connection: while PostgreSQL is down, a write is told so within a second.
            a = ServerProcess.start("a", tmp.resolve("a"), config(url, tmp.resolve("a"), "").replace("database:\n",
                    "database:\n  connection-timeout-ms: 1000\n"));
            b = ServerProcess.start("b", tmp.resolve("b"), config(url, tmp.resolve("b"), "").replace("database:\n",
                    "database:\n  connection-timeout-ms: 1000\n"));
            assertEquals(200, a.post("/v1/collections", "{\"name\": \"steady\", \"dimension\": " + DIM + "}").status());
            Set<String> acknowledged = ConcurrentHashMap.newKeySet();
            Set<String> attempted = ConcurrentHashMap.newKeySet();
            Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
            List<String> unavailable = java.util.Collections.synchronizedList(new ArrayList<>());
            AtomicBoolean down = new AtomicBoolean();
            AtomicInteger okWhileDown = new AtomicInteger();
            AtomicInteger afterResume = new AtomicInteger();
            AtomicBoolean resumed = new AtomicBoolean();
            AtomicBoolean stop = new AtomicBoolean();
            List<Future<?>> writers = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
                int w = 0;
                for (ServerProcess s : List.of(a, b)) {
                    int writer = w++;
                    writers.add(pool.submit(() -> {
                        for (int n = 0; !stop.get(); n++) {
                            String[] ids = {"w" + writer + "-" + n + "-0", "w" + writer + "-" + n + "-1"};
                            attempted.addAll(List.of(ids));
                            ServerProcess.Reply r = s.post("/v1/collections/steady/vectors", vectors(ids));
                            statuses.computeIfAbsent(r.status(), k -> new AtomicInteger()).incrementAndGet();
                            if (r.status() == 200) {
                                acknowledged.addAll(List.of(ids));
                                if (down.get()) {
                                    okWhileDown.incrementAndGet();
                                }
                                if (resumed.get()) {
                                    afterResume.incrementAndGet();
                                }
                            } else if (r.status() == 503) {
                                unavailable.add(r.json().at("/error/code").asText() + " after " + r.header("retry-after") + " s: "
                                        + r.json().at("/error/message").asText());
                            }
                            Thread.sleep(10);
                        }
                        return null;
                    }));
                }
                long ackDeadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
                while (statuses.getOrDefault(200, new AtomicInteger()).get() < 20) {
                    assertTrue(System.nanoTime() < ackDeadline, "20 writes acknowledged within 2 minutes: " + statuses);
                    Thread.sleep(20);
                }
                long writesBefore = statuses.get(200).get();
                postgres("halt", pg);
                Thread.sleep(300); // requests that had already committed answer 200 as they finish
                down.set(true);
                Thread.sleep(3000);
                // Reads keep being served from the replica's own index while the database is away.
                assertEquals(200, b.post("/v1/collections/steady/query", "{\"vector\": " + zero() + "}").status());
                down.set(false);
                postgres("resume", pg);
                resumed.set(true);
                long t0 = System.nanoTime();
                while (afterResume.get() < 20 && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(60)) {
                    Thread.sleep(20);
                }
                stop.set(true);
                for (Future<?> f : writers) {
                    f.get(60, TimeUnit.SECONDS);
                }
                System.out.printf("PostgreSQL restart under load: statuses %s (%d acknowledged before the halt); writes resumed %.1f s"
                        + " after the restart%n", new TreeMap<>(statuses), writesBefore, (System.nanoTime() - t0) / 1e9);
            }
            assertEquals(Set.of(200, 503), statuses.keySet(), "writes answer 200, or 503 while the database is down: " + statuses);
            assertEquals(0, okWhileDown.get(), "nothing is acknowledged while the database is down");
            assertTrue(afterResume.get() >= 20, "writes succeed again once it is back");
            assertTrue(unavailable.stream().allMatch(u -> u.startsWith("store_unavailable after 2 s")), unavailable.toString());
            Table table = table(url, "steady");
            Set<String> lost = new HashSet<>(acknowledged);
            lost.removeAll(table.ids());
            assertEquals(Set.of(), lost, "acknowledged writes lost in the crash");
            // The replicas resume following the log by themselves: no min_seq, just time.
            for (ServerProcess s : List.of(a, b)) {
                long t0 = System.nanoTime();
                while (s.get("/v1/collections/steady", null).json().path("seq").asLong() < table.lastSeq()) {
                    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30), s.name() + " resumes applying the log");
                    Thread.sleep(50);
                }
                Set<String> never = new HashSet<>(attempted);
                never.removeAll(table.ids());
                holdsExactly(s, "steady", table, never);
            }
            System.out.printf("after the restart: %d acknowledged, %d in the table at seq %d, both replicas equal to it; 503s: %s%n",
                    acknowledged.size(), table.ids().size(), table.lastSeq(), unavailable.isEmpty() ? "none" : unavailable.get(0));
        } finally {
            for (ServerProcess s : new ServerProcess[] {a, b}) {
                if (s != null) {
                    s.close();
                }
            }
            postgres("stop", pg);
        }
    }
}
