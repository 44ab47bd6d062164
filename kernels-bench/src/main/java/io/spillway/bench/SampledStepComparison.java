package io.spillway.bench;

import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link SampledDecodeStepBenchmark}'s batch-16 Qwen3-0.6B-shaped decode step, its picks alternating
 * step by step over one loaded model, so that a shared machine's load, which moves the 2.4 GB
 * forward pass by more than the 5 % being measured from one JMH fork to the next, falls on every
 * pick alike. Prints per pick the median step time with its min and max, and the median of its
 * ratio to the baseline's step in the same round, with the quartiles of that ratio. The pick alone
 * (logits to ids on the host, timed inside the step) is steadier than the whole step, whose forward
 * pass varies by tens of milliseconds: its median, and the step ratio it implies (1 + the pick's
 * median time over the baseline's, less the baseline's pick, over the baseline's median step), are
 * printed too.
 *
 * <pre>java -cp kernels-bench/target/benchmarks.jar io.spillway.bench.SampledStepComparison [rounds] [picks]</pre>
 *
 * <p>picks: comma-separated {@code pick} values of the benchmark, the first the baseline; default
 * {@code argmax,greedy,top_p_penalties}.
 */
public final class SampledStepComparison {

    private SampledStepComparison() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        List<String> picks = List.of((args.length > 1 ? args[1] : "argmax,greedy,top_p_penalties").split(","));
        if (rounds < 1) {
            throw new IllegalArgumentException("rounds must be at least 1, not " + rounds);
        }
        try (LoadedModel model = ModelShapes.load(DummyShapes.qwen3_0_6b())) {
            List<SampledDecodeStepBenchmark> steps = new ArrayList<>();
            try {
                for (String pick : picks) {
                    SampledDecodeStepBenchmark step = new SampledDecodeStepBenchmark();
                    step.prepare(model, pick);
                    steps.add(step);
                }
                for (int warm = 0; warm < 10; warm++) {
                    steps.forEach(SampledDecodeStepBenchmark::step);
                }
                double[][] ms = new double[picks.size()][rounds];
                double[][] pickMs = new double[picks.size()][rounds];
                for (int r = 0; r < rounds; r++) {
                    // Every other round in reverse order, so that no pick always follows the same one.
                    for (int i = 0; i < picks.size(); i++) {
                        int p = r % 2 == 0 ? i : picks.size() - 1 - i;
                        long start = System.nanoTime();
                        steps.get(p).step();
                        ms[p][r] = (System.nanoTime() - start) / 1e6;
                        pickMs[p][r] = steps.get(p).lastPickNanos() / 1e6;
                    }
                }
                double baseStep = Timings.median(ms[0]);
                double basePick = Timings.median(pickMs[0]);
                for (int p = 0; p < picks.size(); p++) {
                    double[] ratio = new double[rounds];
                    for (int r = 0; r < rounds; r++) {
                        ratio[r] = ms[p][r] / ms[0][r];
                    }
                    double[] sorted = ms[p].clone();
                    Arrays.sort(sorted);
                    Arrays.sort(ratio);
                    System.out.printf("%-22s median %7.1f ms [%.1f, %.1f]   ÷ %s: median %.3f, quartiles [%.3f, %.3f]%n", picks.get(p),
                            sorted[rounds / 2], sorted[0], sorted[rounds - 1], picks.get(0), ratio[rounds / 2], ratio[rounds / 4],
                            ratio[3 * rounds / 4]);
                    double[] pick = pickMs[p].clone();
                    Arrays.sort(pick);
                    System.out.printf("%-22s pick alone: median %6.2f ms [%.2f, %.2f], quartiles [%.2f, %.2f]; step ÷ %s implied by it: %.3f%n",
                            "", pick[rounds / 2], pick[0], pick[rounds - 1], pick[rounds / 4], pick[3 * rounds / 4], picks.get(0),
                            1 + (pick[rounds / 2] - basePick) / baseStep);
                }
            } finally {
                steps.forEach(SampledDecodeStepBenchmark::closeStep);
            }
        }
    }
}
