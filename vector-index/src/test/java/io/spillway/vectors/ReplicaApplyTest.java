package io.spillway.vectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A collection following a log kept elsewhere (a replica of a shared store): writes arrive with
 * their sequence numbers, exactly in order, and survive a restart through the local log; a replica
 * that rebuilds loads the records as of a sequence number and opens there.
 */
class ReplicaApplyTest {

    @TempDir
    Path tmp;

    private static final StorageOptions OPTIONS = new StorageOptions(false, 64L << 20);
    private static final CollectionSpec SPEC = CollectionSpec.of(2, Metric.COSINE);

    private static VectorRecord rec(String id, float x, float y) {
        return new VectorRecord(id, new float[] {x, y}, Map.of("n", 1L));
    }

    @Test
    void changesApplyAtTheirSequenceNumbersInOrderAndReplayAfterARestart() throws IOException {
        Path dir = tmp.resolve("c");
        try (VectorCollection c = VectorCollection.create(dir, SPEC, OPTIONS)) {
            assertEquals(0, c.lastSeq());
            c.applyAt(1, VectorCollection.prepare(SPEC, List.of(rec("a", 1, 0), rec("b", 0, 1))), List.of());
            c.applyAt(2, VectorCollection.prepare(SPEC, List.of(rec("c", 3, 4))), List.of("a"));
            assertEquals(2, c.lastSeq());
            IllegalStateException gap = assertThrows(IllegalStateException.class,
                    () -> c.applyAt(4, List.of(), List.of("b")));
            assertTrue(gap.getMessage().contains("at seq 2"), gap.getMessage());
            assertThrows(IllegalStateException.class, () -> c.applyAt(2, List.of(), List.of("b")), "a change is applied once");
        }
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            assertEquals(2, c.lastSeq(), "the local log replays the applied changes");
            assertEquals(2, c.size());
            assertTrue(c.get("a").isEmpty());
            assertArrayEquals(new float[] {0.6f, 0.8f}, c.get("c").orElseThrow().vector(), 1e-6f);
            c.applyAt(3, List.of(), List.of("b"));
            assertEquals(1, c.size());
        }
    }

    @Test
    void aLoadedCollectionOpensAtTheLoadedSequenceFromItsSnapshot() throws IOException {
        Path dir = tmp.resolve("c");
        try (VectorCollection c = VectorCollection.create(dir, SPEC, OPTIONS)) {
            c.load(List.of(VectorCollection.prepare(SPEC, List.of(rec("a", 1, 0))),
                    VectorCollection.prepare(SPEC, List.of(rec("b", 0, 1), rec("c", 1, 1)))).iterator(), 10_000);
            assertEquals(10_000, c.lastSeq());
            assertThrows(IllegalStateException.class, () -> c.load(List.<List<VectorRecord>>of().iterator(), 5), "only while empty");
            c.applyAt(10_001, List.of(), List.of("c"));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("snapshot")), "loading snapshots");
        }
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            assertEquals(10_001, c.lastSeq());
            assertEquals(2, c.size());
            assertEquals("b", c.query(new float[] {0, 1}, 1, 0, Filter.NONE).get(0).id());
        }
    }

    @Test
    void aReplicaSnapshotsOnlyWhenItHasAppliedSomethingSinceItsLastOne() throws IOException {
        Path dir = tmp.resolve("c");
        try (VectorCollection c = VectorCollection.create(dir, SPEC, OPTIONS)) {
            c.snapshotIfBehind();
            assertEquals(0, snapshots(dir));
            c.applyAt(1, VectorCollection.prepare(SPEC, List.of(rec("a", 1, 0))), List.of());
            c.snapshotIfBehind();
            assertEquals(1, snapshots(dir));
        }
        try (VectorCollection c = VectorCollection.open(dir, OPTIONS)) {
            assertEquals(1, c.lastSeq());
            assertEquals(1, c.size());
        }
    }

    private static long snapshots(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().startsWith("snapshot")).count();
        }
    }
}
