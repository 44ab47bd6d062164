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

    /** Mean milliseconds per call of {@code call} repeated for {@code seconds}, after one untimed call. */
    static double meanMillis(Runnable call, double seconds) {
        call.run();
        int n = 0;
        long start = System.nanoTime();
        do {
            call.run();
            n++;
        } while (System.nanoTime() - start < seconds * 1e9);
        return (System.nanoTime() - start) / 1e6 / n;
    }
}
