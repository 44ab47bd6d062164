package io.spillway.bench;

import java.util.Arrays;

/** Summaries of repeated timings for the comparison mains, which alternate variants in one process. */
final class Timings {

    private Timings() {
    }

    /** The upper median of {@code values}, which stay as they are. */
    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
