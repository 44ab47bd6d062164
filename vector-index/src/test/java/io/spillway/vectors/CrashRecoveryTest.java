package io.spillway.vectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a writing child process with SIGKILL at random moments, over and over; after each kill
 * the collection must hold every acknowledged write and nothing else. The one write in flight
 * at the kill may have landed or not, but entirely or not at all.
 */
class CrashRecoveryTest {

    @TempDir
    Path tmp;

    private record Op(long number, boolean delete, List<String> ids) {
    }

    @Test
    void everyAcknowledgedWriteSurvivesKillNine() throws Exception {
        Path dir = tmp.resolve("crashy");
        Map<String, Long> expected = new HashMap<>(); // id -> op that wrote its current vector
        Random random = new Random(42);
        long nextOp = 1;
        int kills = 8;
        int inFlightLanded = 0;
        long acknowledged = 0;
        for (int round = 0; round < kills; round++) {
            Process child = new ProcessBuilder(javaCommand(dir, nextOp)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            Op inFlight = null;
            long lastBegun = nextOp - 1;
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                String ready;
                do {
                    ready = lines.readLine(); // the child's log lines share its stdout
                } while (ready != null && !ready.equals("READY"));
                assertEquals("READY", ready, "the child opened the collection");
                long killAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200 + random.nextInt(800));
                String line;
                while ((line = lines.readLine()) != null) {
                    String[] parts = line.split(" ");
                    if (parts[0].equals("BEGIN")) {
                        inFlight = new Op(Long.parseLong(parts[1]), parts[2].equals("D"), List.of(Arrays.copyOfRange(parts, 3, parts.length)));
                        lastBegun = inFlight.number();
                    } else if (parts[0].equals("ACK")) {
                        assertEquals(inFlight.number(), Long.parseLong(parts[1]));
                        apply(expected, inFlight);
                        acknowledged++;
                        inFlight = null;
                    }
                    if (System.nanoTime() > killAt) {
                        // SIGKILL: no shutdown hooks, no flushing. Through the handle, so that the
                        // pipe stays open and what the child printed before dying can be read.
                        child.toHandle().destroyForcibly();
                        killAt = Long.MAX_VALUE;
                        // Drain what the child printed before dying: those ACKs were acknowledged.
                    }
                }
            }
            child.waitFor();
            nextOp = lastBegun + 1;
            try (VectorCollection c = VectorCollection.open(dir, CrashWriter.OPTIONS)) {
                Map<String, Long> withInFlight = new HashMap<>(expected);
                if (inFlight != null) {
                    apply(withInFlight, inFlight);
                }
                Map<String, Long> actual = new HashMap<>();
                for (VectorRecord r : c.records()) {
                    actual.put(r.id(), (Long) r.metadata().get("op"));
                    assertArrayEquals(CrashWriter.vector(actual.get(r.id()), r.id()), r.vector(), "vector of " + r.id());
                }
                if (actual.equals(withInFlight) && !actual.equals(expected)) {
                    inFlightLanded++;
                    expected.clear();
                    expected.putAll(withInFlight);
                } else if (!actual.equals(expected)) {
                    fail("round " + round + ": after the kill the collection holds " + diff(expected, actual));
                }
            }
        }
        assertTrue(acknowledged > 100, "the children wrote enough to make the test meaningful: " + acknowledged);
        System.out.printf("crash test: %d kills, %d acknowledged writes, %d in-flight writes found applied after the kill%n",
                kills, acknowledged, inFlightLanded);
    }

    private static void apply(Map<String, Long> state, Op op) {
        for (String id : op.ids()) {
            if (op.delete()) {
                state.remove(id);
            } else {
                state.put(id, op.number());
            }
        }
    }

    private static String diff(Map<String, Long> expected, Map<String, Long> actual) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Long> e : expected.entrySet()) {
            if (!e.getValue().equals(actual.get(e.getKey()))) {
                out.add(e.getKey() + ": expected op " + e.getValue() + ", found " + actual.get(e.getKey()));
            }
        }
        for (String id : actual.keySet()) {
            if (!expected.containsKey(id)) {
                out.add(id + ": present (op " + actual.get(id) + ") but never acknowledged");
            }
        }
        return out.toString();
    }

    private static List<String> javaCommand(Path dir, long firstOp) {
        String java = ProcessHandle.current().info().command().orElse("java");
        return List.of(java, "-cp", System.getProperty("java.class.path"), "-Xmx256m",
                CrashWriter.class.getName(), dir.toString(), Long.toString(firstOp));
    }
}
