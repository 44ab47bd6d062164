package io.spillway.bench;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadedModel;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionChoice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Whole decode steps of the SmolLM2-135M shape (random weights) with the gather path's decodes
 * attended by libtorch's ops against Spillway's native operator, on one loaded model, alternating
 * within one run so that a shared machine's load falls on both alike. Each backend has its own
 * cache, filled by the same prefill. Prints per batch and context the median ms per step with its
 * min and max over rounds. AttentionBenchmark times the attention alone; here it is timed as a
 * share of whole steps, whose projections run between the layers' attention as served.
 *
 * <pre>java -cp kernels-bench/target/benchmarks.jar io.spillway.bench.DecodeAttentionComparison [weights] [rounds] [batches] [contexts] [seconds per cell]</pre>
 *
 * <p>weights as {@link ModelShapes#smolLm2_135m(String)} takes them (default none, float32);
 * batches and contexts comma-separated (defaults 1,4,16 and 128,512).
 */
public final class DecodeAttentionComparison {

    private static final List<AttentionChoice> BACKENDS = List.of(AttentionChoice.GATHER, AttentionChoice.GATHER_NATIVE);

    private DecodeAttentionComparison() {
    }

    public static void main(String[] args) {
        String weights = args.length > 0 ? args[0] : "none";
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int[] batches = Arrays.stream((args.length > 2 ? args[2] : "1,4,16").split(",")).mapToInt(Integer::parseInt).toArray();
        int[] contexts = Arrays.stream((args.length > 3 ? args[3] : "128,512").split(",")).mapToInt(Integer::parseInt).toArray();
        double seconds = args.length > 4 ? Double.parseDouble(args[4]) : 1;
        try (LoadedModel loaded = LoadedModel.load(ModelShapes.smolLm2_135m(weights));
             NDManager owner = loaded.model().manager().newSubManager()) {
            DecoderModel model = loaded.model();
            System.out.println(weights + ": " + model.weightSummary().describe());
            List<String> names = new ArrayList<>();
            List<List<DecodeSteps.Step>> cells = new ArrayList<>();
            for (int context : contexts) {
                for (int batch : batches) {
                    names.add("batch " + batch + ", context " + context);
                    List<DecodeSteps.Step> steps = new ArrayList<>();
                    for (AttentionChoice backend : BACKENDS) {
                        steps.add(DecodeSteps.decode(model, batch, context, backend, owner));
                    }
                    cells.add(steps);
                }
            }
            double[][][] ms = new double[cells.size()][BACKENDS.size()][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int c = 0; c < cells.size(); c++) {
                    for (int k = 0; k < BACKENDS.size(); k++) {
                        int b = (r + k) % BACKENDS.size();
                        DecodeSteps.Step step = cells.get(c).get(b);
                        ms[c][b][r] = Timings.meanMillis(() -> {
                            try (NDManager s = model.manager().newSubManager()) {
                                model.forward(step.batch(), step.attention(), s).argMax(1).toLongArray();
                            }
                        }, seconds);
                    }
                }
            }
            for (int c = 0; c < cells.size(); c++) {
                StringBuilder line = new StringBuilder(String.format("%-22s", names.get(c)));
                for (int b = 0; b < BACKENDS.size(); b++) {
                    double[] v = ms[c][b];
                    line.append(String.format("  %s %.2f ms/step [min %.2f max %.2f]", BACKENDS.get(b).configName(), Timings.median(v),
                            Arrays.stream(v).min().orElseThrow(), Arrays.stream(v).max().orElseThrow()));
                }
                System.out.println(line);
            }
        }
    }

}
