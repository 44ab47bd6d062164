package io.spillway.server.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.platform.keys.Database;
import io.spillway.server.testing.TestPostgres;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.Metric;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import java.nio.file.Path;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two catalogs on one PostgreSQL database, as two replicas hold it (in one JVM here; the
 * process-level tests are in operations.ReplicasTest): writes are committed and numbered in the
 * database and reach the other replica's index in order, by notification or by reading the log.
 */
class SharedCatalogTest {

    @TempDir
    Path tmp;

    private static final CollectionSpec SPEC = CollectionSpec.of(3, Metric.EUCLIDEAN);
    private static final Duration SYNC = Duration.ofMillis(300);
    private String url;
    private Database db;

    @BeforeEach
    void database() {
        url = TestPostgres.freshDatabase("catalog");
        db = Database.open(url, "", "");
    }

    @AfterEach
    void drop() {
        if (db != null) {
            db.close();
            TestPostgres.drop(url);
        }
    }

    private SharedCatalog replica(String name) throws Exception {
        return SharedCatalog.start(db, new SharedCatalog.Settings(tmp.resolve(name), new StorageOptions(false, 64L << 20), SYNC,
                Duration.ofHours(1)));
    }

    private static VectorRecord rec(String id, float x) {
        return new VectorRecord(id, new float[] {x, 0, 1}, Map.of("x", (double) x));
    }

    private static void eventually(BooleanSupplier ok, Duration within, String what) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (!ok.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + " within " + within.toMillis() + " ms");
            }
            Thread.sleep(10);
        }
    }

    private static Set<String> ids(StoredCollection c) {
        Set<String> out = new TreeSet<>();
        c.query(new float[] {0, 0, 1}, 1000, 1000, Filter.NONE).forEach(h -> out.add(h.id()));
        return out;
    }

    @Test
    void writesThroughOneReplicaReachTheOtherInOrder() throws Exception {
        try (SharedCatalog a = replica("a"); SharedCatalog b = replica("b")) {
            StoredCollection onA = a.create("owner", "docs", SPEC);
            assertThrows(IllegalStateException.class, () -> b.create("owner", "docs", SPEC), "names are unique per owner across replicas");
            long first = onA.upsert(List.of(rec("one", 1), rec("two", 2), rec("three", 3)));
            assertEquals(1, first);
            assertEquals(3, onA.size(), "the writer's own index has its write when it is acknowledged");
            StoredCollection onB = b.get("owner", "docs").orElseThrow();
            assertTrue(onB.awaitApplied(first, Duration.ofSeconds(5)));
            assertEquals(Set.of("one", "two", "three"), ids(onB));
            assertArrayEquals(onA.get("two").orElseThrow().vector(), onB.get("two").orElseThrow().vector(), "bit for bit");
            assertEquals(2.0, onB.get("two").orElseThrow().metadata().get("x"));

            StoredCollection.Deleted deleted = onB.delete(List.of("one", "missing"));
            assertEquals(new StoredCollection.Deleted(1, 2), deleted);
            long t0 = System.nanoTime();
            eventually(() -> onA.appliedSeq() >= 2, Duration.ofSeconds(5), "the delete reaches A without being asked for");
            System.out.printf("a delete through B reached A in %.1f ms%n", (System.nanoTime() - t0) / 1e6);
            assertEquals(Set.of("two", "three"), ids(onA));
            assertEquals(new StoredCollection.Deleted(0, 0), onA.delete(List.of("one")), "nothing deleted, nothing numbered");

            long put = onA.putDocument("doc", List.of(rec("doc#0", 5), rec("doc#1", 6), rec("doc#2", 7)));
            long replaced = onB.putDocument("doc", List.of(rec("doc#0", 8)));
            assertTrue(onA.awaitApplied(replaced, Duration.ofSeconds(5)));
            assertEquals(Set.of("two", "three", "doc#0"), ids(onA), "a replaced document keeps only its new chunks: " + put);
            assertEquals(new StoredCollection.Deleted(1, replaced + 1), onA.deleteDocument("doc"));

            assertTrue(b.get("owner", "nope").isEmpty());
            assertTrue(a.drop("owner", "docs"));
            eventually(() -> {
                try {
                    return b.get("owner", "docs").isEmpty();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }, Duration.ofSeconds(5), "a drop reaches B");
        }
    }

    @Test
    void aReplicaRestartsFromItsSnapshotAndTheLogOrRebuildsFromTheTables() throws Exception {
        long last;
        try (SharedCatalog a = replica("a")) {
            StoredCollection c = a.create("owner", "docs", SPEC);
            try (SharedCatalog b = replica("b")) {
                assertTrue(b.get("owner", "docs").orElseThrow().awaitApplied(0, Duration.ZERO));
                for (int i = 0; i < 20; i++) {
                    c.upsert(List.of(rec("r" + i, i)));
                }
                assertTrue(b.get("owner", "docs").orElseThrow().awaitApplied(20, Duration.ofSeconds(5)));
            }
            // b stopped with a snapshot at 20; 30 writes later it returns.
            for (int i = 20; i < 50; i++) {
                c.upsert(List.of(rec("r" + i, i)));
            }
            last = c.delete(List.of("r0")).seq();
            try (SharedCatalog b = replica("b")) {
                StoredCollection onB = b.get("owner", "docs").orElseThrow();
                assertEquals(last, onB.appliedSeq(), "caught up before serving");
                assertEquals(49, onB.size());
            }
            // From nothing: no local index at all.
            VectorCollection.deleteTree(tmp.resolve("b"));
            try (SharedCatalog b = replica("b")) {
                StoredCollection onB = b.get("owner", "docs").orElseThrow();
                assertEquals(last, onB.appliedSeq());
                assertEquals(ids(c), ids(onB));
            }
            // The log no longer reaches back to b's snapshot: it rebuilds from the tables.
            for (int i = 50; i < 60; i++) {
                c.upsert(List.of(rec("r" + i, i)));
            }
            db.run(conn -> {
                try (Statement s = conn.createStatement()) {
                    return s.executeUpdate("DELETE FROM vector_changes");
                }
            });
            last = c.upsert(List.of(rec("late", 99)));
            try (SharedCatalog b = replica("b")) {
                StoredCollection onB = b.get("owner", "docs").orElseThrow();
                assertEquals(last, onB.appliedSeq());
                assertEquals(ids(c), ids(onB));
                assertEquals(60, onB.size());
            }
        }
    }
}
