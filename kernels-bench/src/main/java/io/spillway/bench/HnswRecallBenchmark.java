package io.spillway.bench;

import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.Metric;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * HNSW over a realistic embedding-like set: {@code n} vectors of dimension 384 in 200 Gaussian
 * clusters of different spreads (real embeddings cluster by topic, which is harder for a graph
 * than uniform noise), inserted through {@link VectorCollection} with its write-ahead log
 * (batches of 1,000, synced). Setup reports the insert rate and recall@10 against exact search over
 * 500 held-out queries at the collection's default ef (or {@code -p ef=N}); the benchmark itself
 * measures queries per second at that ef.
 *
 * <p>Run: {@code ./spillway bench kernels HnswRecall} (about 3 minutes on
 * 2 cores, mostly the build of the graph).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xmx6g"})
public class HnswRecallBenchmark {

    static final int DIM = 384;
    static final int CLUSTERS = 200;
    static final int QUERIES = 500;

    @Param({"100000"})
    public int n;

    /** Query-time ef; 0 means the collection's default. */
    @Param({"0"})
    public int ef;

    private Path dir;
    private VectorCollection collection;
    private float[][] queries;
    private int next;

    @Setup(Level.Trial)
    public void build() throws IOException {
        Random rnd = new Random(2026);
        float[][] centers = new float[CLUSTERS][DIM];
        double[] spread = new double[CLUSTERS];
        for (int c = 0; c < CLUSTERS; c++) {
            for (int d = 0; d < DIM; d++) {
                centers[c][d] = (float) rnd.nextGaussian();
            }
            spread[c] = 0.3 + rnd.nextDouble() * 0.7;
        }
        float[][] data = new float[n][];
        for (int i = 0; i < n; i++) {
            data[i] = sample(centers, spread, rnd);
        }
        queries = new float[QUERIES][];
        for (int q = 0; q < QUERIES; q++) {
            queries[q] = sample(centers, spread, rnd);
        }
        dir = Files.createTempDirectory("hnsw-bench");
        collection = VectorCollection.create(dir.resolve("bench"), CollectionSpec.of(DIM, Metric.COSINE), StorageOptions.DEFAULT);
        long start = System.nanoTime();
        List<VectorRecord> batch = new ArrayList<>(1000);
        for (int i = 0; i < n; i++) {
            batch.add(new VectorRecord(Integer.toString(i), data[i], Map.of()));
            if (batch.size() == 1000) {
                collection.upsert(batch);
                batch.clear();
            }
        }
        collection.upsert(batch);
        double buildSeconds = (System.nanoTime() - start) / 1e9;

        // Exact neighbours by brute force, in the collection's own terms (cosine).
        float[][] unit = new float[n][];
        for (int i = 0; i < n; i++) {
            unit[i] = normalized(data[i]);
        }
        double recallSum = 0;
        int[][] exact = new int[QUERIES][];
        for (int q = 0; q < QUERIES; q++) {
            exact[q] = topK(unit, normalized(queries[q]), 10);
        }
        for (int q = 0; q < QUERIES; q++) {
            Set<String> truth = new HashSet<>();
            for (int id : exact[q]) {
                truth.add(Integer.toString(id));
            }
            int found = 0;
            for (SearchHit h : collection.query(queries[q], 10, ef, Filter.NONE)) {
                found += truth.contains(h.id()) ? 1 : 0;
            }
            recallSum += found / 10.0;
        }
        int usedEf = ef > 0 ? ef : collection.spec().ef();
        System.out.printf("%nHNSW: %d vectors x %d dims (M=%d, efConstruction=%d) built in %.1f s = %.0f inserts/s (log synced per"
                        + " 1,000); recall@10 at ef=%d: %.4f over %d queries%n", n, DIM, collection.spec().m(),
                collection.spec().efConstruction(), buildSeconds, n / buildSeconds, usedEf, recallSum / QUERIES, QUERIES);
    }

    static float[] sample(float[][] centers, double[] spread, Random rnd) {
        int c = rnd.nextInt(centers.length);
        float[] v = new float[DIM];
        for (int d = 0; d < DIM; d++) {
            v[d] = (float) (centers[c][d] + spread[c] * rnd.nextGaussian());
        }
        return v;
    }

    static float[] normalized(float[] v) {
        double s = 0;
        for (float x : v) {
            s += x * x;
        }
        float inv = (float) (1 / Math.sqrt(s));
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] * inv;
        }
        return out;
    }

    static int[] topK(float[][] unit, float[] q, int k) {
        int[] best = new int[k];
        double[] score = new double[k];
        java.util.Arrays.fill(score, Double.NEGATIVE_INFINITY);
        for (int i = 0; i < unit.length; i++) {
            double s = 0;
            float[] v = unit[i];
            for (int d = 0; d < DIM; d++) {
                s += v[d] * q[d];
            }
            if (s > score[k - 1]) {
                int j = k - 1;
                while (j > 0 && score[j - 1] < s) {
                    score[j] = score[j - 1];
                    best[j] = best[j - 1];
                    j--;
                }
                score[j] = s;
                best[j] = i;
            }
        }
        return best;
    }

    @Benchmark
    public List<SearchHit> query() {
        float[] q = queries[next];
        next = (next + 1) % QUERIES;
        return collection.query(q, 10, ef, Filter.NONE);
    }

    @TearDown(Level.Trial)
    public void close() throws IOException {
        collection.drop();
        Files.deleteIfExists(dir);
    }
}
