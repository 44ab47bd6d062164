package io.spillway.vectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VectorCollectionTest {

    @TempDir
    Path tmp;

    private static final StorageOptions OPTIONS = new StorageOptions(true, 64L << 20);

    private static float[] vec(float... xs) {
        return xs;
    }

    @Test
    void upsertGetDeleteAndQueryPerMetric() throws IOException {
        try (VectorCollection c = VectorCollection.create(tmp.resolve("c"), CollectionSpec.of(3, Metric.COSINE), OPTIONS)) {
            c.upsert(List.of(new VectorRecord("x", vec(1, 0, 0), Map.of("kind", "axis")),
                    new VectorRecord("y", vec(0, 2, 0), Map.of("kind", "axis")),
                    new VectorRecord("xy", vec(1, 1, 0), Map.of("kind", "diagonal"))));
            assertEquals(3, c.size());
            List<SearchHit> hits = c.query(vec(3, 0.1f, 0), 2, 0, Filter.NONE);
            assertEquals(List.of("x", "xy"), hits.stream().map(SearchHit::id).toList());
            assertEquals(0.9994, hits.get(0).score(), 1e-3, "cosine similarity");
            // Cosine stores the direction.
            assertArrayEquals(vec(0, 1, 0), c.get("y").orElseThrow().vector(), 1e-6f);
            // Replacing moves the record.
            c.upsert(List.of(new VectorRecord("x", vec(0, 0, 1), Map.of("kind", "moved"))));
            assertEquals("xy", c.query(vec(3, 0.1f, 0), 1, 0, Filter.NONE).get(0).id());
            assertEquals("moved", c.get("x").orElseThrow().metadata().get("kind"));
            assertEquals(1, c.delete(List.of("xy", "nope")));
            assertTrue(c.get("xy").isEmpty());
            assertEquals(2, c.size());
            assertFalse(c.query(vec(1, 1, 0), 5, 0, Filter.NONE).stream().anyMatch(h -> h.id().equals("xy")));
        }
        try (VectorCollection dot = VectorCollection.create(tmp.resolve("d"), CollectionSpec.of(2, Metric.DOT), OPTIONS);
             VectorCollection l2 = VectorCollection.create(tmp.resolve("e"), CollectionSpec.of(2, Metric.EUCLIDEAN), OPTIONS)) {
            List<VectorRecord> rs = List.of(new VectorRecord("small", vec(1, 0), Map.of()), new VectorRecord("big", vec(10, 1), Map.of()));
            dot.upsert(rs);
            l2.upsert(rs);
            // Inner product favours magnitude; Euclidean favours proximity.
            assertEquals("big", dot.query(vec(1, 0), 1, 0, Filter.NONE).get(0).id());
            assertEquals(10f, dot.query(vec(1, 0), 1, 0, Filter.NONE).get(0).score(), 1e-5);
            SearchHit near = l2.query(vec(1, 0), 1, 0, Filter.NONE).get(0);
            assertEquals("small", near.id());
            assertEquals(0f, near.score(), 1e-6, "negated distance");
        }
    }

    @Test
    void rejectsWhatItCannotStore() throws IOException {
        try (VectorCollection c = VectorCollection.create(tmp.resolve("c"), CollectionSpec.of(3, Metric.COSINE), OPTIONS)) {
            assertThrows(IllegalArgumentException.class, () -> c.upsert(List.of(new VectorRecord("a", vec(1, 2), Map.of()))));
            assertThrows(IllegalArgumentException.class, () -> c.upsert(List.of(new VectorRecord("z", vec(0, 0, 0), Map.of()))));
            assertThrows(IllegalArgumentException.class, () -> c.upsert(List.of(new VectorRecord("n", vec(Float.NaN, 0, 1), Map.of()))));
            assertThrows(IllegalArgumentException.class, () -> new VectorRecord("m", vec(1, 2, 3), Map.of("bad", List.of())));
            assertEquals(0, c.size(), "a rejected batch writes nothing");
        }
    }

    /** {@code dimension} equal components making up a vector of norm {@code norm}. */
    private static float[] spread(int dimension, double norm) {
        float[] v = new float[dimension];
        java.util.Arrays.fill(v, (float) (norm / Math.sqrt(dimension)));
        return v;
    }

    private static float[] negated(float[] v) {
        float[] out = v.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] = -out[i];
        }
        return out;
    }

    @Test
    void refusesVectorsWhoseDistancesCouldOverflowAndScoresStayFinite() throws IOException {
        for (Metric metric : List.of(Metric.DOT, Metric.EUCLIDEAN)) {
            for (int dimension : new int[] {3, 384}) {
                try (VectorCollection c = VectorCollection.create(tmp.resolve(metric + "-" + dimension), CollectionSpec.of(dimension, metric),
                        OPTIONS)) {
                    String how = metric + " in " + dimension + " dimensions";
                    float[] huge = new float[dimension];
                    huge[0] = 3e38f;
                    IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                            () -> c.upsert(List.of(new VectorRecord("huge", huge, Map.of()))), how);
                    assertTrue(refused.getMessage().contains("norm"), refused.getMessage());
                    assertThrows(IllegalArgumentException.class,
                            () -> c.upsert(List.of(new VectorRecord("spread", spread(dimension, 1e19), Map.of()))), how);
                    assertThrows(IllegalArgumentException.class, () -> c.query(negated(huge), 1, 0, Filter.NONE), how + ": query");
                    assertEquals(0, c.size(), how);
                    // The largest vectors it takes, pointing opposite ways: the worst case stays finite.
                    float[] big = spread(dimension, 4e18);
                    c.upsert(List.of(new VectorRecord("big", big, Map.of()), new VectorRecord("opposite", negated(big), Map.of()),
                            new VectorRecord("small", spread(dimension, 1), Map.of())));
                    for (float[] q : List.of(big, negated(big), spread(dimension, 1e-30))) {
                        for (SearchHit h : c.query(q, 3, 0, Filter.NONE)) {
                            assertTrue(Float.isFinite(h.score()), how + ": " + h);
                        }
                    }
                }
            }
        }
    }

    @Test
    void cosineNormalizesVectorsOfAnyFiniteSize() throws IOException {
        try (VectorCollection c = VectorCollection.create(tmp.resolve("c"), CollectionSpec.of(3, Metric.COSINE), OPTIONS)) {
            c.upsert(List.of(new VectorRecord("huge", vec(3e38f, 0, 3e38f), Map.of()), new VectorRecord("tiny", vec(0, 1e-30f, 0), Map.of())));
            float half = (float) Math.sqrt(0.5);
            assertArrayEquals(vec(half, 0, half), c.get("huge").orElseThrow().vector(), 1e-6f);
            assertArrayEquals(vec(0, 1, 0), c.get("tiny").orElseThrow().vector(), 1e-6f);
            assertEquals(1f, c.query(vec(1e-30f, 0, 1e-30f), 1, 0, Filter.NONE).get(0).score(), 1e-5f);
        }
    }

    @Test
    void vectorsStoredBeforeNormsWereBoundedStillGetNumericScores() throws IOException {
        Path dir = tmp.resolve("old");
        try (VectorCollection c = VectorCollection.create(dir, CollectionSpec.of(2, Metric.EUCLIDEAN), OPTIONS)) {
            c.upsert(List.of(new VectorRecord("near", vec(1, 0), Map.of())));
        }
        // What an older version logged without checking: an upsert (operation 1) of a vector whose
        // distance to anything on the other side overflows a float.
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
        out.writeLong(2);
        out.writeByte(1);
        out.writeInt(1);
        io.spillway.vectors.storage.RecordCodec.write(out, new VectorRecord("far", vec(3e38f, 0), Map.of()));
        try (var wal = io.spillway.vectors.storage.WriteAheadLog.openAndReplay(dir, 2, true, payload -> { })) {
            wal.append(bytes.toByteArray());
        }
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            List<SearchHit> hits = c.query(vec(-1, 0), 2, 0, Filter.NONE);
            assertEquals(List.of("near", "far"), hits.stream().map(SearchHit::id).toList());
            hits.forEach(h -> assertTrue(Float.isFinite(h.score()), h.toString()));
        }
    }

    @Test
    void filtersOnTypedFieldsAndWidensUntilEnoughMatch() throws IOException {
        Random rnd = new Random(7);
        try (VectorCollection c = VectorCollection.create(tmp.resolve("c"), CollectionSpec.of(16, Metric.COSINE), OPTIONS)) {
            List<VectorRecord> rs = new ArrayList<>();
            for (int i = 0; i < 3000; i++) {
                float[] v = new float[16];
                for (int d = 0; d < 16; d++) {
                    v[d] = (float) rnd.nextGaussian();
                }
                rs.add(new VectorRecord("r" + i, v, Map.of("year", 2000 + i % 25, "lang", i % 3 == 0 ? "fr" : "en",
                        "rare", i % 1000 == 0, "price", i * 0.5)));
            }
            c.upsert(rs);
            float[] q = rs.get(5).vector();
            Filter rare = new Filter(List.of(new Filter.Equals("rare", true)));
            // Only 3 of 3000 match: far outside any normal candidate list, still all found.
            List<SearchHit> hits = c.query(q, 10, 16, rare);
            assertEquals(Set.of("r0", "r1000", "r2000"), hits.stream().map(SearchHit::id).collect(Collectors.toSet()));
            Filter range = new Filter(List.of(new Filter.Range("year", 2010L, true, 2012L, false),
                    new Filter.In("lang", List.of("fr")), new Filter.Range("price", null, false, 1000.0, true)));
            List<SearchHit> ranged = c.query(q, 20, 0, range);
            assertEquals(20, ranged.size());
            for (SearchHit h : ranged) {
                long year = (Long) h.metadata().get("year");
                assertTrue(year >= 2010 && year < 2012, h.toString());
                assertEquals("fr", h.metadata().get("lang"));
                assertTrue((Double) h.metadata().get("price") <= 1000.0);
            }
            for (int i = 1; i < ranged.size(); i++) {
                assertTrue(ranged.get(i - 1).score() >= ranged.get(i).score(), "best first");
            }
            // The same results as an exhaustive filtered scan.
            List<String> exact = rs.stream().filter(r -> range.matches(r.metadata()))
                    .sorted((a, b) -> Double.compare(cos(b.vector(), q), cos(a.vector(), q)))
                    .limit(20).map(VectorRecord::id).toList();
            long overlap = ranged.stream().filter(h -> exact.contains(h.id())).count();
            assertTrue(overlap >= 18, "filtered recall " + overlap + "/20");
        }
    }

    private static double cos(float[] a, float[] b) {
        return Distances.dot(a, b) / Math.sqrt(Distances.dot(a, a) * Distances.dot(b, b));
    }

    @Test
    void aLargerEfFindsAtLeastAsMuch() throws IOException {
        Random rnd = new Random(3);
        int n = 4000;
        int dim = 32;
        try (VectorCollection c = VectorCollection.create(tmp.resolve("c"),
                new CollectionSpec(dim, Metric.EUCLIDEAN, 4, 8, 1), OPTIONS)) {
            List<VectorRecord> rs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                float[] v = new float[dim];
                for (int d = 0; d < dim; d++) {
                    v[d] = (float) rnd.nextGaussian();
                }
                rs.add(new VectorRecord("r" + i, v, Map.of()));
            }
            c.upsert(rs);
            int lowTotal = 0;
            int highTotal = 0;
            for (int t = 0; t < 50; t++) {
                float[] q = rs.get(rnd.nextInt(n)).vector().clone();
                q[0] += 0.5f;
                List<String> exact = rs.stream().sorted((a, b) -> Double.compare(Distances.squaredEuclidean(a.vector(), q),
                        Distances.squaredEuclidean(b.vector(), q))).limit(10).map(VectorRecord::id).toList();
                lowTotal += (int) c.query(q, 10, 10, Filter.NONE).stream().filter(h -> exact.contains(h.id())).count();
                highTotal += (int) c.query(q, 10, 400, Filter.NONE).stream().filter(h -> exact.contains(h.id())).count();
            }
            // A deliberately weak graph (m=4, efConstruction=8): ef is what rescues recall.
            assertTrue(highTotal > lowTotal + 50, "ef=400 recall " + highTotal + "/500 vs ef=10 " + lowTotal + "/500");
        }
    }

    @Test
    void survivesReopenThroughSnapshotAndLog() throws IOException {
        Path dir = tmp.resolve("c");
        StorageOptions tiny = new StorageOptions(true, 4096);
        try (VectorCollection c = VectorCollection.create(dir, CollectionSpec.of(4, Metric.EUCLIDEAN), tiny)) {
            for (int i = 0; i < 200; i++) {
                c.upsert(List.of(new VectorRecord("r" + i, vec(i, i + 1, i + 2, i + 3), Map.of("i", i, "text", "chunk " + i))));
            }
            c.delete(List.of("r3", "r4"));
            c.snapshot();
            c.upsert(List.of(new VectorRecord("late", vec(9, 9, 9, 9), Map.of())));
            c.delete(List.of("r5"));
        }
        try (Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(1, names.stream().filter(n -> n.startsWith("snapshot-")).count(), names.toString());
            assertEquals(1, names.stream().filter(n -> n.startsWith("wal-")).count(), "covered segments are retired: " + names);
        }
        try (VectorCollection c = VectorCollection.open(dir, tiny)) {
            assertEquals(198, c.size());
            assertTrue(c.get("r4").isEmpty());
            assertTrue(c.get("r5").isEmpty());
            assertArrayEquals(vec(9, 9, 9, 9), c.get("late").orElseThrow().vector());
            assertEquals("chunk 77", c.get("r77").orElseThrow().metadata().get("text"));
            assertEquals(77L, c.get("r77").orElseThrow().metadata().get("i"));
            assertEquals("r100", c.query(vec(100, 101, 102, 103), 1, 0, Filter.NONE).get(0).id());
            // Writes continue with the right sequence after a reopen.
            c.upsert(List.of(new VectorRecord("after", vec(1, 1, 1, 1), Map.of())));
        }
        try (VectorCollection c = VectorCollection.open(dir, tiny)) {
            assertEquals(199, c.size());
        }
    }

    @Test
    void aTornFinalRecordIsDroppedAndTheLogStaysAppendable() throws IOException {
        Path dir = tmp.resolve("c");
        try (VectorCollection c = VectorCollection.create(dir, CollectionSpec.of(2, Metric.EUCLIDEAN), OPTIONS)) {
            c.upsert(List.of(new VectorRecord("a", vec(1, 2), Map.of())));
            c.upsert(List.of(new VectorRecord("b", vec(3, 4), Map.of())));
        }
        Path wal;
        try (Stream<Path> files = Files.list(dir)) {
            wal = files.filter(p -> p.getFileName().toString().startsWith("wal-")).findFirst().orElseThrow();
        }
        long good = Files.size(wal);
        // What a kill in the middle of appending a third record leaves: its frame header and half the payload.
        byte[] full = Files.readAllBytes(wal);
        int second = (int) (good - (full.length / 2));
        try (FileChannel ch = FileChannel.open(wal, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.wrap(full, second, full.length - second - 5));
        }
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            assertEquals(2, c.size());
            assertEquals(good, Files.size(wal), "the torn tail is cut off");
            c.upsert(List.of(new VectorRecord("c", vec(5, 6), Map.of())));
        }
        // A flipped byte inside the last record: checksum mismatch, the record is dropped, never applied.
        byte[] bytes = Files.readAllBytes(wal);
        bytes[bytes.length - 3] ^= 0x40;
        Files.write(wal, bytes);
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            assertEquals(2, c.size());
            assertTrue(c.get("c").isEmpty());
        }
    }

    @Test
    void queriesRunWhileWritesContinue() throws Exception {
        try (VectorCollection c = VectorCollection.create(tmp.resolve("c"), CollectionSpec.of(8, Metric.COSINE), OPTIONS)) {
            Random seed = new Random(1);
            c.upsert(List.of(new VectorRecord("seed", vec(1, 0, 0, 0, 0, 0, 0, 0), Map.of())));
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<Thread> readers = new ArrayList<>();
            int[] queries = new int[1];
            for (int t = 0; t < 3; t++) {
                readers.add(Thread.ofPlatform().start(() -> {
                    Random r = new Random();
                    try {
                        while (!stop.get()) {
                            float[] q = new float[8];
                            for (int d = 0; d < 8; d++) {
                                q[d] = (float) r.nextGaussian();
                            }
                            List<SearchHit> hits = c.query(q, 5, 0, Filter.NONE);
                            if (hits.isEmpty()) {
                                throw new AssertionError("no hits during writes");
                            }
                            synchronized (queries) {
                                queries[0]++;
                            }
                        }
                    } catch (Throwable e) {
                        failure.set(e);
                    }
                }));
            }
            for (int i = 0; i < 2000; i++) {
                float[] v = new float[8];
                for (int d = 0; d < 8; d++) {
                    v[d] = (float) seed.nextGaussian();
                }
                c.upsert(List.of(new VectorRecord("r" + (i % 500), v, Map.of("i", i))));
                if (i % 7 == 0) {
                    c.delete(List.of("r" + seed.nextInt(500)));
                }
            }
            stop.set(true);
            for (Thread t : readers) {
                t.join();
            }
            if (failure.get() != null) {
                throw new AssertionError("a query failed during writes", failure.get());
            }
            assertTrue(queries[0] > 0);
            assertTrue(c.size() <= 501);
        }
    }

    @Test
    void aLargeBatchKeepsTheLastRecordOfEachIdAndReplaysTheSame() throws IOException {
        Path dir = tmp.resolve("c");
        Random rnd = new Random(5);
        List<VectorRecord> batch = new ArrayList<>();
        for (int round = 1; round <= 2; round++) {
            for (int i = 0; i < 500; i++) {
                float[] v = new float[8];
                for (int d = 0; d < 8; d++) {
                    v[d] = (float) rnd.nextGaussian();
                }
                batch.add(new VectorRecord("r" + i, v, Map.of("round", round)));
            }
        }
        try (VectorCollection c = VectorCollection.create(dir, CollectionSpec.of(8, Metric.EUCLIDEAN), OPTIONS)) {
            c.upsert(batch); // 1,000 records, inserted in parallel
            assertEquals(500, c.size());
            for (int i = 0; i < 500; i++) {
                VectorRecord r = c.get("r" + i).orElseThrow();
                assertEquals(2L, r.metadata().get("round"));
                assertArrayEquals(batch.get(500 + i).vector(), r.vector());
                assertEquals("r" + i, c.query(r.vector(), 1, 0, Filter.NONE).get(0).id(), "each record is reachable");
            }
        }
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            assertEquals(500, c.size());
            assertEquals(2L, c.get("r123").orElseThrow().metadata().get("round"));
        }
    }

    @Test
    void storeCreatesListsAndDropsAtomically() throws IOException {
        Path root = tmp.resolve("store");
        try (CollectionStore store = new CollectionStore(root, OPTIONS)) {
            store.create("docs", CollectionSpec.of(2, Metric.COSINE)).upsert(List.of(new VectorRecord("a", vec(1, 0), Map.of())));
            store.create("more", CollectionSpec.of(2, Metric.DOT));
            assertThrows(IllegalStateException.class, () -> store.create("docs", CollectionSpec.of(2, Metric.COSINE)));
            assertThrows(IllegalArgumentException.class, () -> store.create("../evil", CollectionSpec.of(2, Metric.COSINE)));
            assertEquals(List.of("docs", "more"), store.names());
            assertTrue(store.drop("more"));
            assertFalse(store.drop("more"));
        }
        Files.createDirectories(root.resolve("half.creating"));
        try (CollectionStore store = new CollectionStore(root, OPTIONS)) {
            assertEquals(List.of("docs"), store.names());
            assertEquals(1, store.get("docs").orElseThrow().size());
            assertFalse(Files.exists(root.resolve("half.creating")), "crash leftovers are cleaned up");
        }
    }
}
