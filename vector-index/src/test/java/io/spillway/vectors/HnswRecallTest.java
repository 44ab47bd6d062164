package io.spillway.vectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Recall of the graph with the defaults every collection gets (m 16, ef_construction 200, ef 64),
 * asserted rather than only printed by the HnswRecall benchmark: 20,000 embedding-like vectors of
 * dimension 384 in 200 Gaussian clusters of different spreads (real embeddings cluster by topic,
 * which is harder for a graph than uniform noise), recall@10 against exact search over held-out
 * queries.
 */
class HnswRecallTest {

    private static final int N = 20_000;
    private static final int DIM = 384;
    private static final int CLUSTERS = 200;
    private static final int QUERIES = 200;
    private static final int K = 10;

    @TempDir
    Path tmp;

    private static float[] sample(float[][] centers, double[] spread, Random rnd) {
        int c = rnd.nextInt(centers.length);
        float[] v = new float[DIM];
        for (int d = 0; d < DIM; d++) {
            v[d] = (float) (centers[c][d] + spread[c] * rnd.nextGaussian());
        }
        return v;
    }

    private static float[] normalized(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] / Math.sqrt(s));
        }
        return out;
    }

    /** The ids of the k highest cosine similarities, by brute force in double precision. */
    private static Set<String> exactTopK(float[][] unit, float[] query, int k) {
        float[] q = normalized(query);
        int[] best = new int[k];
        double[] score = new double[k];
        Arrays.fill(score, Double.NEGATIVE_INFINITY);
        for (int i = 0; i < unit.length; i++) {
            double s = 0;
            for (int d = 0; d < DIM; d++) {
                s += (double) unit[i][d] * q[d];
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
        Set<String> ids = new HashSet<>();
        for (int i : best) {
            ids.add(Integer.toString(i));
        }
        return ids;
    }

    @Test
    void recallAtTenWithTheDefaultsIsAtLeast98Percent() throws IOException {
        Random rnd = new Random(2026);
        float[][] centers = new float[CLUSTERS][DIM];
        double[] spread = new double[CLUSTERS];
        for (int c = 0; c < CLUSTERS; c++) {
            for (int d = 0; d < DIM; d++) {
                centers[c][d] = (float) rnd.nextGaussian();
            }
            spread[c] = 0.3 + rnd.nextDouble() * 0.7;
        }
        float[][] unit = new float[N][];
        long start = System.nanoTime();
        CollectionSpec spec = CollectionSpec.of(DIM, Metric.COSINE);
        try (VectorCollection c = VectorCollection.create(tmp.resolve("recall"), spec, new StorageOptions(false, 1L << 30))) {
            List<VectorRecord> batch = new ArrayList<>(1000);
            for (int i = 0; i < N; i++) {
                float[] v = sample(centers, spread, rnd);
                unit[i] = normalized(v);
                batch.add(new VectorRecord(Integer.toString(i), v, Map.of()));
                if (batch.size() == 1000) {
                    c.upsert(batch);
                    batch.clear();
                }
            }
            assertEquals(N, c.size());
            double buildSeconds = (System.nanoTime() - start) / 1e9;
            int found = 0;
            for (int q = 0; q < QUERIES; q++) {
                float[] query = sample(centers, spread, rnd);
                Set<String> truth = exactTopK(unit, query, K);
                for (SearchHit h : c.query(query, K, 0, Filter.NONE)) {
                    found += truth.contains(h.id()) ? 1 : 0;
                }
            }
            double recall = found / (double) (QUERIES * K);
            System.out.printf("HNSW recall: %d x %d clustered vectors (m=%d, ef_construction=%d) built in %.1f s; recall@%d at ef=%d"
                    + " over %d queries: %.4f%n", N, DIM, spec.m(), spec.efConstruction(), buildSeconds, K, spec.ef(), QUERIES, recall);
            assertTrue(recall >= 0.98, "recall@10 at the default ef: " + recall);
        }
    }
}
