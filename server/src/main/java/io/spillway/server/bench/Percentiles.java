package io.spillway.server.bench;

import java.util.Arrays;
import java.util.List;

/** Summary of a latency sample in milliseconds: mean and the percentiles serving benchmarks report. */
public record Percentiles(double mean, double p50, double p90, double p99, int count) {

    public static final Percentiles EMPTY = new Percentiles(Double.NaN, Double.NaN, Double.NaN, Double.NaN, 0);

    public static Percentiles of(List<Double> values) {
        if (values.isEmpty()) {
            return EMPTY;
        }
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return new Percentiles(Arrays.stream(v).average().orElse(Double.NaN), at(v, 0.50), at(v, 0.90), at(v, 0.99), v.length);
    }

    /** The nearest-rank percentile. */
    private static double at(double[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length, rank) - 1)];
    }
}
