package io.spillway.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.LoadedModel;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * float32 against int8 and int4 on the SmolLM2-135M shape (random weights), alternating within one run so
 * that a shared machine's load falls on both alike: a decode step at batch 1, 16 and 64 (context 128)
 * and a 512-token prefill chunk, plus the same run's read bandwidth (a 1 GiB sum, as
 * {@link MemoryBandwidthBenchmark}). Prints per variant the median step time with its min and
 * max over rounds, tokens/s, bytes of weights a step streams and the step's ratio to its bandwidth
 * floor (those bytes / bandwidth; float32's packed copy for oneDNN is held, not streamed as well,
 * and an embedding table that is not also the LM head is only gathered by row).
 * JMH runs parameters one after the other, so this is a main.
 *
 * <pre>java -cp kernels-bench/target/benchmarks.jar io.spillway.bench.QuantizedDecodeComparison [rounds] [seconds per cell] [formats]</pre>
 *
 * <p>formats: comma-separated, as {@link ModelShapes#smolLm2_135m(String)} takes them (an int4 format's
 * {@code @libtorch} or {@code @spillway} picks its kernel); default {@code none,int8,awq-int4}. Decodes
 * attend as the server's default does here ({@code gather-native} on a CPU where the native operators
 * run), prefills through libtorch's ops.
 */
public final class QuantizedDecodeComparison {

    private QuantizedDecodeComparison() {
    }

    private record Workload(String name, int tokens, ForwardBatch batch, AttentionBackend attention) {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 2;
        List<String> variants = List.of((args.length > 2 ? args[2] : "none,int8,awq-int4").split(","));
        List<LoadedModel> models = new ArrayList<>();
        List<List<Workload>> workloads = new ArrayList<>();
        List<NDManager> owners = new ArrayList<>();
        for (String v : variants) {
            LoadedModel m = LoadedModel.load(ModelShapes.smolLm2_135m(v));
            models.add(m);
            NDManager owner = m.model().manager().newSubManager();
            owners.add(owner);
            workloads.add(List.of(decode(m.model(), 1, 128, owner), decode(m.model(), 16, 128, owner), decode(m.model(), 64, 128, owner),
                    prefill(m.model(), 512, owner)));
            System.out.println(v + ": " + m.model().weightSummary().describe() + ", resident " + ModelShapes.residentMiB() + " MiB");
        }
        List<Double> bandwidth = new ArrayList<>();
        int cells = workloads.get(0).size();
        double[][][] ms = new double[variants.size()][cells][rounds];
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray data = m.ones(new Shape(MemoryBandwidthBenchmark.BYTES / 4), DataType.FLOAT32);
            for (int r = 0; r < rounds; r++) {
                bandwidth.add(MemoryBandwidthBenchmark.BYTES / 1e9 / (Timings.meanMillis(() -> {
                    try (NDManager s = m.newSubManager()) {
                        NDArray sum = data.sum();
                        sum.attach(s);
                        sum.getFloat();
                    }
                }, seconds) / 1000));
                for (int w = 0; w < cells; w++) {
                    for (int v = 0; v < variants.size(); v++) {
                        DecoderModel model = models.get(v).model();
                        Workload work = workloads.get(v).get(w);
                        ms[v][w][r] = Timings.meanMillis(() -> {
                            try (NDManager step = model.manager().newSubManager()) {
                                model.forward(work.batch(), work.attention(), step).argMax(1).toLongArray();
                            }
                        }, seconds);
                    }
                }
            }
        }
        double gbps = Timings.median(bandwidth.stream().mapToDouble(d -> d).toArray());
        System.out.printf("read bandwidth: median %.1f GB/s [%s]%n", gbps, spread(bandwidth.stream().mapToDouble(d -> d).toArray()));
        for (int w = 0; w < cells; w++) {
            for (int v = 0; v < variants.size(); v++) {
                Workload work = workloads.get(v).get(w);
                double med = Timings.median(ms[v][w]);
                long bytes = models.get(v).model().weightSummary().streamedBytes();
                double floorMs = bytes / (gbps * 1e9) * 1000;
                System.out.printf("%-14s %-9s median %8.2f ms/step [min %.2f max %.2f], %8.1f tokens/s, weights %.1f MB, floor %.2f ms, %.1fx floor%n",
                        work.name(), variants.get(v), med, Arrays.stream(ms[v][w]).min().orElseThrow(), Arrays.stream(ms[v][w]).max().orElseThrow(),
                        work.tokens() / med * 1000, bytes / 1e6, floorMs, med / floorMs);
            }
        }
        owners.forEach(NDManager::close);
        models.forEach(LoadedModel::close);
    }

    /** Decodes attend as a server's decodes do by default on this machine, every format alike: what this compares is the weight formats. */
    private static Workload decode(DecoderModel model, int batch, int context, NDManager owner) {
        DecodeSteps.Step step = DecodeSteps.decode(model, batch, context, AttentionChoice.forTarget(model.target()), owner);
        return new Workload("decode b=" + batch, batch, step.batch(), step.attention());
    }

    private static Workload prefill(DecoderModel model, int tokens, NDManager owner) {
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int blocks = (tokens + blockSize - 1) / blockSize;
        GatherAttention attention = new GatherAttention(DecodeSteps.cache(model, blocks + 1, owner), model.config());
        int[] ids = new Random(7).ints(tokens, 0, model.config().vocabSize()).toArray();
        return new Workload("prefill " + tokens, tokens,
                ForwardBatch.of(List.of(new SequenceChunk(ids, 0, DecodeSteps.table(1, blocks), true)), blockSize), attention);
    }

    private static String spread(double[] v) {
        return String.format("min %.1f max %.1f", Arrays.stream(v).min().orElseThrow(), Arrays.stream(v).max().orElseThrow());
    }
}
