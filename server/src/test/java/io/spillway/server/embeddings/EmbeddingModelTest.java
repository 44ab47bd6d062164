package io.spillway.server.embeddings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.testing.SharedData;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The real all-MiniLM-L6-v2 through ONNX Runtime, judged on the STS Benchmark. */
class EmbeddingModelTest {

    private static EmbeddingService service;

    @BeforeAll
    static void load() throws Exception {
        service = new EmbeddingService(EmbeddingModel.load(EmbeddingModelSource.builtin(), "auto"), 32, Duration.ofMillis(5), 100_000,
                new PrometheusRegistry());
    }

    @AfterAll
    static void close() {
        service.close();
    }

    private static List<float[]> embed(String... texts) {
        return service.embedTexts(List.of(texts)).join();
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    @Test
    void unitVectorsOf384Dimensions() {
        assertEquals("all-MiniLM-L6-v2", service.name());
        assertEquals(384, service.dimension());
        for (float[] v : embed("Hello world", "", "a much longer sentence about inference servers and paged attention")) {
            assertEquals(384, v.length);
            assertEquals(1.0, Math.sqrt(dot(v, v)), 1e-5);
        }
    }

    @Test
    void ranksParaphrasesAboveUnrelatedSentences() {
        List<float[]> v = embed("A man is playing a guitar.", "Someone plays an acoustic guitar.", "The stock market fell sharply today.",
                "How do I reset my password?", "I forgot my login credentials and need a new password.");
        assertTrue(dot(v.get(0), v.get(1)) > 0.6, "paraphrase " + dot(v.get(0), v.get(1)));
        assertTrue(dot(v.get(0), v.get(1)) > dot(v.get(0), v.get(2)) + 0.4);
        assertTrue(dot(v.get(3), v.get(4)) > dot(v.get(3), v.get(0)) + 0.3);
    }

    @Test
    void batchingAndPaddingDoNotChangeVectors() {
        float[] alone = embed("short").get(0);
        float[] batched = embed("short", "a considerably longer input that forces padding of the short one in the same batch").get(0);
        assertArrayEquals(alone, batched, 1e-5f);
        // Concurrent callers are served together and still get their own vectors.
        List<CompletableFuture<List<float[]>>> all = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            all.add(service.embedTexts(List.of(i % 2 == 0 ? "short" : "other text " + i)));
        }
        for (int i = 0; i < 16; i += 2) {
            assertArrayEquals(alone, all.get(i).join().get(0), 1e-5f);
        }
    }

    @Test
    void truncatesToTheModelsMaximumLength() {
        String longText = "word ".repeat(2000);
        long[] ids = service.model().tokenize(longText);
        assertEquals(256, ids.length, "sentence-transformers' max_seq_length for this model");
        assertEquals(102, ids[ids.length - 1], "[SEP] survives truncation");
        assertEquals(384, embed(longText).get(0).length);
    }

    @Test
    void loadsFromAThreadWithAnOrdinaryStack() throws Exception {
        // ONNX Runtime builds the session recursively on the calling thread; a native stack
        // overflow kills the JVM outright, so the load runs in a JVM of its own.
        String javaBinary = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(javaBinary, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                LoadOnASmallStack.class.getName(), Long.toString(1 << 20)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "the JVM died (139 is SIGSEGV): " + out.lines().filter(l -> !l.contains("|-")).toList());
        assertTrue(out.contains("loaded 384"), out);
    }

    @Test
    void itsThreadsLeaveTheCoresFreeBetweenCalls() throws Exception {
        // The engine's OpenMP threads compute on the same cores: between calls, ONNX Runtime's
        // pool must not hold one of them.
        assumeTrue(Runtime.getRuntime().availableProcessors() > 1, "one core: ONNX Runtime starts no pool threads");
        assumeTrue(onCpuNanos(Set.of(ProcessHandle.current().pid())).values().stream().anyMatch(nanos -> nanos > 0),
                "this kernel does not account threads' time on a CPU in /proc");
        Set<Long> before = threadsNamed("");
        try (EmbeddingModel cpu = EmbeddingModel.load(EmbeddingModelSource.builtin(), "cpu")) {
            Set<Long> started = threadsNamed(EmbeddingModel.SETUP_THREAD.substring(0, 15));
            started.removeAll(before);
            List<long[]> batch = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                batch.add(cpu.tokenize("a sentence long enough that a batch of them splits across threads, number " + i));
            }
            Map<Long, Long> beforeBatch = onCpuNanos(started);
            cpu.embed(batch);
            Map<Long, Long> afterBatch = onCpuNanos(started);
            // Those that did some of the batch's work: the pool, not the setup thread on its way out.
            Set<Long> pool = new HashSet<>(afterBatch.keySet());
            pool.removeIf(id -> afterBatch.get(id) <= beforeBatch.getOrDefault(id, Long.MAX_VALUE));
            assertFalse(pool.isEmpty(), "no thread started by loading the model, named after " + EmbeddingModel.SETUP_THREAD
                    + ", did any of a batch's work: " + started);
            long[] idle = new long[3];
            for (int i = 0; i < idle.length; i++) {
                cpu.embed(List.of(cpu.tokenize("what does the retrieval step return for this question")));
                // A thread's time on a CPU is brought up to date when it stops running: give the
                // pool the moment a sleeping thread needs to put its share of the call on record.
                Thread.sleep(10);
                Map<Long, Long> ran = onCpuNanos(pool);
                Thread.sleep(300);
                idle[i] = grownSince(ran, onCpuNanos(pool));
            }
            // Spinning, the pool ran 15-20 ms of each of these windows.
            assertTrue(Arrays.stream(idle).sum() < TimeUnit.MILLISECONDS.toNanos(5),
                    () -> "ONNX Runtime's pool ran for " + Arrays.toString(idle) + " ns while idle after each of three calls");
        }
    }

    /** Ids of this process's threads whose name starts with {@code prefix}. */
    private static Set<Long> threadsNamed(String prefix) throws IOException {
        Set<Long> ids = new HashSet<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    if (Files.readString(task.resolve("comm")).strip().startsWith(prefix)) {
                        ids.add(Long.parseLong(task.getFileName().toString()));
                    }
                } catch (NoSuchFileException exited) {
                    // the thread ended between listing and reading
                }
            }
        }
        return ids;
    }

    /** Each live thread's time on a CPU so far, in nanoseconds, by id; threads that ended are left out. */
    private static Map<Long, Long> onCpuNanos(Set<Long> threads) throws IOException {
        Map<Long, Long> nanos = new HashMap<>();
        for (long id : threads) {
            try {
                nanos.put(id, Long.parseLong(Files.readString(Path.of("/proc/self/task/" + id + "/schedstat")).strip().split(" ")[0]));
            } catch (NoSuchFileException exited) {
                // ended
            }
        }
        return nanos;
    }

    /** What the threads alive at both readings ran between them. */
    private static long grownSince(Map<Long, Long> earlier, Map<Long, Long> later) {
        long grown = 0;
        for (Map.Entry<Long, Long> e : later.entrySet()) {
            Long before = earlier.get(e.getKey());
            if (before != null) {
                grown += e.getValue() - before;
            }
        }
        return grown;
    }

    @Test
    void tokenSpansIndexTheJavaString() {
        // Characters outside the Basic Multilingual Plane are two chars in a Java string: every
        // word after one must still be found where it is.
        String text = "end with a smile 😀 then 𠜎 words, 👨\u200D👩\u200D👧 after 🇯🇵 flags";
        int[][] spans = service.model().tokenSpans(text);
        List<String> pieces = new ArrayList<>();
        for (int[] s : spans) {
            assertTrue(s[0] >= 0 && s[0] < s[1] && s[1] <= text.length(), Arrays.toString(s) + " in " + text.length() + " chars");
            assertTrue(!Character.isLowSurrogate(text.charAt(s[0])) && (s[1] == text.length() || !Character.isLowSurrogate(text.charAt(s[1]))),
                    "span " + Arrays.toString(s) + " cuts a character in two");
            pieces.add(text.substring(s[0], s[1]));
        }
        assertEquals(List.of("end", "with", "a", "smile", "😀", "then", "𠜎", "words", ",", "👨\u200D👩\u200D👧", "after", "🇯🇵", "flags"), pieces);
    }

    @Test
    void spearmanOnTheStsBenchmarkTestSplit() throws Exception {
        Path file = SharedData.require("datasets/stsb/sts-test.csv");
        List<String> lines = Files.readAllLines(file);
        List<String> a = new ArrayList<>();
        List<String> b = new ArrayList<>();
        List<Double> gold = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split("\t");
            if (f.length < 7) {
                continue;
            }
            gold.add(Double.parseDouble(f[4]));
            a.add(f[5]);
            b.add(f[6]);
        }
        assertEquals(1379, gold.size(), "the STS-B test split");
        long start = System.nanoTime();
        List<float[]> va = service.embedTexts(a).join();
        List<float[]> vb = service.embedTexts(b).join();
        double seconds = (System.nanoTime() - start) / 1e9;
        double[] predicted = new double[gold.size()];
        double[] truth = new double[gold.size()];
        for (int i = 0; i < predicted.length; i++) {
            predicted[i] = dot(va.get(i), vb.get(i));
            truth[i] = gold.get(i);
        }
        double rho = spearman(predicted, truth);
        System.out.printf("STS-B test: Spearman %.4f over %d pairs; %d sentences embedded in %.1f s (%.0f/s)%n", rho, truth.length,
                2 * truth.length, seconds, 2 * truth.length / seconds);
        assertTrue(rho >= 0.81, "Spearman " + rho + " below 0.81 (published ~0.82)");
    }

    static double spearman(double[] x, double[] y) {
        double[] rx = ranks(x);
        double[] ry = ranks(y);
        double mx = Arrays.stream(rx).average().orElse(0);
        double my = Arrays.stream(ry).average().orElse(0);
        double num = 0;
        double dx = 0;
        double dy = 0;
        for (int i = 0; i < x.length; i++) {
            num += (rx[i] - mx) * (ry[i] - my);
            dx += (rx[i] - mx) * (rx[i] - mx);
            dy += (ry[i] - my) * (ry[i] - my);
        }
        return num / Math.sqrt(dx * dy);
    }

    /** Ranks with ties given their average rank, as scipy's spearmanr does. */
    private static double[] ranks(double[] v) {
        Integer[] order = new Integer[v.length];
        for (int i = 0; i < v.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (p, q) -> Double.compare(v[p], v[q]));
        double[] r = new double[v.length];
        int i = 0;
        while (i < v.length) {
            int j = i;
            while (j + 1 < v.length && v[order[j + 1]] == v[order[i]]) {
                j++;
            }
            double avg = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) {
                r[order[k]] = avg;
            }
            i = j + 1;
        }
        return r;
    }
}
