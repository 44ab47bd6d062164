package io.spillway.server.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.cli.SpillwayCli;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.testing.TestPostgres;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Metric;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorRecord;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code spillway collections migrate} both ways on a real PostgreSQL: what arrives is, record for
 * record and bit for bit, what left; the shared store then serves it (document deletes included);
 * a second copy onto existing collections is refused before anything is written.
 */
class StoreMigrationTest {

    @TempDir
    Path tmp;

    private static final StorageOptions STORAGE = new StorageOptions(false, 64L << 20);

    private record Run(int exit, String out, String err) {
    }

    private static Run cli(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream();
        ByteArrayOutputStream e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int exit = SpillwayCli.execute(args);
            return new Run(exit, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    private static List<VectorRecord> records(String prefix, int n, int dim, long seed) {
        Random rnd = new Random(seed);
        List<VectorRecord> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] v = new float[dim];
            for (int d = 0; d < dim; d++) {
                v[d] = (float) rnd.nextGaussian();
            }
            out.add(new VectorRecord(prefix + i, v, Map.of("text", "chunk " + i, "document_id", prefix + "doc" + (i % 7), "year",
                    2000L + i, "weight", i / 3.0, "ok", i % 2 == 0)));
        }
        return out;
    }

    private static float[] ones(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1);
        return v;
    }

    @Test
    void collectionsMoveToPostgresAndBackVerifiedByCountsAndChecksums() throws Exception {
        String url = TestPostgres.freshDatabase("migrate");
        try {
            Path embedded = tmp.resolve("embedded");
            String handbookSum;
            int deletedChunks;
            try (EmbeddedCatalog catalog = new EmbeddedCatalog(embedded, STORAGE)) {
                StoredCollection handbook = catalog.create("key-aaa", "handbook", CollectionSpec.of(12, Metric.COSINE));
                handbook.upsert(records("h", 300, 12, 1));
                handbook.delete(List.of("h5", "h6"));
                catalog.create("key-bbb", "handbook", CollectionSpec.of(4, Metric.EUCLIDEAN)).upsert(records("x", 20, 4, 2));
                catalog.create("key-bbb", "empty", CollectionSpec.of(3, Metric.DOT));
                handbookSum = StoreMigration.checksum(handbook.query(ones(12), 1000, 1000, io.spillway.vectors.Filter.NONE).stream()
                        .map(h -> handbook.get(h.id()).orElseThrow()).toList());
            }
            Run copied = cli("collections", "migrate", "--from", "embedded", "--to", "database", "--data-dir", embedded.toString(),
                    "--database-url", url);
            assertEquals(0, copied.exit(), copied.err());
            assertTrue(copied.out().contains(handbookSum), "the source's checksum is reported:\n" + copied.out());
            assertTrue(copied.out().contains("key-aaa") && copied.out().contains(" 298 "), copied.out());
            assertTrue(copied.err().contains("3 collections, 318 records"), copied.err());

            Run again = cli("collections", "migrate", "--from", "embedded", "--to", "database", "--data-dir", embedded.toString(),
                    "--database-url", url);
            assertEquals(2, again.exit(), "existing collections are refused");
            assertTrue(again.err().contains("already exists in the database"), again.err());

            // The shared store serves the copy: built from the tables, same records, documents deletable.
            try (Database db = Database.open(url, "", "");
                 SharedCatalog shared = SharedCatalog.start(db, new SharedCatalog.Settings(tmp.resolve("replica"), STORAGE,
                         Duration.ofSeconds(1), Duration.ofHours(1)))) {
                StoredCollection h = shared.get("key-aaa", "handbook").orElseThrow();
                assertEquals(298, h.size());
                try (EmbeddedCatalog catalog = new EmbeddedCatalog(embedded, STORAGE)) {
                    StoredCollection original = catalog.get("key-aaa", "handbook").orElseThrow();
                    VectorRecord before = original.get("h7").orElseThrow();
                    VectorRecord after = h.get("h7").orElseThrow();
                    assertArrayEquals(before.vector(), after.vector(), "bit for bit");
                    assertEquals(before.metadata(), after.metadata());
                }
                StoredCollection.Deleted gone = h.deleteDocument("hdoc3");
                assertTrue(gone.count() > 40, "chunks of a document are found by its id: " + gone);
                deletedChunks = gone.count();
            }

            Path back = tmp.resolve("back");
            Run reverse = cli("collections", "migrate", "--from", "database", "--to", "embedded", "--data-dir", back.toString(),
                    "--database-url", url);
            assertEquals(0, reverse.exit(), reverse.err());
            assertTrue(reverse.err().contains("3 collections"), reverse.err());
            try (EmbeddedCatalog catalog = new EmbeddedCatalog(back, STORAGE)) {
                assertEquals(List.of("empty", "handbook"), catalog.names("key-bbb"));
                StoredCollection h = catalog.get("key-aaa", "handbook").orElseThrow();
                assertEquals(298 - deletedChunks, h.size());
                assertTrue(h.get("h3").isEmpty(), "the document deleted in the shared store stays deleted");
                assertEquals(20, catalog.get("key-bbb", "handbook").orElseThrow().size());
            }
        } finally {
            TestPostgres.drop(url);
        }
    }
}
