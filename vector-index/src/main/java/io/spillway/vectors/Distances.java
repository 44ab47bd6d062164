package io.spillway.vectors;

import com.github.jelmerk.hnswlib.core.DistanceFunction;

/**
 * Distance kernels for the graph. Four independent accumulators let the JIT keep several
 * multiply-adds in flight (a single running sum is one long dependency chain); with 384-wide
 * vectors this is most of the cost of an insert or a search.
 */
final class Distances {

    private Distances() {
    }

    static double dot(float[] a, float[] b) {
        int n = a.length;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < n; i += 4) {
            s0 += a[i] * b[i];
            s1 += a[i + 1] * b[i + 1];
            s2 += a[i + 2] * b[i + 2];
            s3 += a[i + 3] * b[i + 3];
        }
        for (; i < n; i++) {
            s0 += a[i] * b[i];
        }
        return (double) s0 + s1 + s2 + s3;
    }

    static double squaredEuclidean(float[] a, float[] b) {
        int n = a.length;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < n; i += 4) {
            float d0 = a[i] - b[i];
            float d1 = a[i + 1] - b[i + 1];
            float d2 = a[i + 2] - b[i + 2];
            float d3 = a[i + 3] - b[i + 3];
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
        for (; i < n; i++) {
            float d = a[i] - b[i];
            s0 += d * d;
        }
        return (double) s0 + s1 + s2 + s3;
    }

    /** 1 − a·b: a distance for normalized vectors (cosine) and for raw inner product. */
    static final class InnerProduct implements DistanceFunction<float[], Float> {
        private static final long serialVersionUID = 1L;

        @Override
        public Float distance(float[] u, float[] v) {
            return (float) (1 - dot(u, v));
        }
    }

    static final class Euclidean implements DistanceFunction<float[], Float> {
        private static final long serialVersionUID = 1L;

        @Override
        public Float distance(float[] u, float[] v) {
            return (float) Math.sqrt(squaredEuclidean(u, v));
        }
    }

    static DistanceFunction<float[], Float> forMetric(Metric metric) {
        return metric == Metric.EUCLIDEAN ? new Euclidean() : new InnerProduct();
    }
}
