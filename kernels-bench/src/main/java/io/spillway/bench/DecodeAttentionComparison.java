package io.spillway.bench;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadedModel;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

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

    private record Step(ForwardBatch batch, AttentionBackend attention) {
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
            List<List<Step>> cells = new ArrayList<>();
            for (int context : contexts) {
                for (int batch : batches) {
                    names.add("batch " + batch + ", context " + context);
                    List<Step> steps = new ArrayList<>();
                    for (AttentionChoice backend : BACKENDS) {
                        steps.add(decode(model, batch, context, backend, owner));
                    }
                    cells.add(steps);
                }
            }
            double[][][] ms = new double[cells.size()][BACKENDS.size()][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int c = 0; c < cells.size(); c++) {
                    for (int k = 0; k < BACKENDS.size(); k++) {
                        int b = (r + k) % BACKENDS.size();
                        Step step = cells.get(c).get(b);
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


    /** A decode step of {@code batch} distinct sequences at {@code context}, its cache filled by their prefill. */
    private static Step decode(DecoderModel model, int batch, int context, AttentionChoice backend, NDManager owner) {
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int perSequence = (context + 1 + blockSize - 1) / blockSize;
        PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(),
                batch * perSequence + 1), model.target().device(), owner);
        AttentionBackend attention = backend.create(cache, model.config());
        Random random = new Random(42);
        List<SequenceChunk> prefill = new ArrayList<>();
        List<SequenceChunk> step = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] table = new int[perSequence];
            int first = 1 + s * perSequence;
            Arrays.setAll(table, i -> first + i);
            prefill.add(new SequenceChunk(random.ints(context, 0, model.config().vocabSize()).toArray(), 0, table, false));
            step.add(SequenceChunk.decode(random.nextInt(model.config().vocabSize()), context, table));
        }
        try (NDManager m = model.manager().newSubManager()) {
            model.forward(ForwardBatch.of(prefill, blockSize), attention, m);
        }
        return new Step(ForwardBatch.of(step, blockSize), attention);
    }
}
