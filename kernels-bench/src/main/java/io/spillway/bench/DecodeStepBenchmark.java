package io.spillway.bench;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadedModel;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
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
 * One decode step (forward pass plus greedy pick) of a SmolLM2-135M-shaped model, float32 on the
 * CPU, every sequence at the same context length.
 *
 * <p>What the figure means: at batch 1 a step must read every weight once, so its floor is
 * weight bytes / memory bandwidth (538 MB at float32; see {@link MemoryBandwidthBenchmark}).
 * Tokens/s is batch / step time. Resident memory and the Java heap are printed after every
 * iteration: native memory (resident minus heap) must stay flat however many steps run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 10)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-Xmx2g"})
public class DecodeStepBenchmark {

    @Param({"1", "16"})
    int batch;

    @Param({"128"})
    int context;

    /**
     * {@code none} (float32), {@code int8} ({@link io.spillway.models.arch.Quantization}), or {@code awq-int4} (a random AWQ
     * checkpoint, {@link ModelShapes#smolLm2_135m(String)}); weight bytes differ, and so the floor.
     */
    @Param({"none"})
    String quantization;

    private LoadedModel loaded;
    private NDManager owner;
    private GatherAttention attention;
    private ForwardBatch decode;
    private long steps;

    @Setup(Level.Trial)
    public void load() {
        loaded = io.spillway.models.LoadedModel.load(ModelShapes.smolLm2_135m(quantization));
        DecoderModel model = loaded.model();
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int blocksPerSequence = (context + 1 + blockSize - 1) / blockSize;
        owner = model.manager().newSubManager();
        PagedKvCache cache = PagedKvCache.allocate(
                KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), batch * blocksPerSequence + 1),
                model.target().device(), owner);
        attention = new GatherAttention(cache, model.config());
        Random random = new Random(42);
        List<SequenceChunk> prefill = new ArrayList<>();
        List<SequenceChunk> step = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] table = new int[blocksPerSequence];
            for (int b = 0; b < table.length; b++) {
                table[b] = 1 + s * blocksPerSequence + b;
            }
            prefill.add(new SequenceChunk(random.ints(context, 0, model.config().vocabSize()).toArray(), 0, table, false));
            step.add(SequenceChunk.decode(random.nextInt(model.config().vocabSize()), context, table));
        }
        try (NDManager m = model.manager().newSubManager()) {
            model.forward(ForwardBatch.of(prefill, blockSize), attention, m);
        }
        // The same decode every time: the step rewrites position `context`, so the context stays fixed.
        decode = ForwardBatch.of(step, blockSize);
    }

    @Benchmark
    public long[] decodeStep() {
        steps++;
        try (NDManager step = loaded.model().manager().newSubManager()) {
            return loaded.model().forward(decode, attention, step).argMax(1).toLongArray();
        }
    }

    @TearDown(Level.Iteration)
    public void reportMemory() {
        Runtime heap = Runtime.getRuntime();
        // Resident memory includes the Java heap, which grows and shrinks with the collector: print
        // both, so that native growth (resident minus heap committed) can be told apart.
        System.err.printf("%n[decode batch=%d] %d steps so far, resident %d MiB, Java heap committed %d MiB (used %d MiB)%n",
                batch, steps, ModelShapes.residentMiB(), heap.totalMemory() >> 20, (heap.totalMemory() - heap.freeMemory()) >> 20);
    }

    @TearDown(Level.Trial)
    public void close() {
        owner.close();
        loaded.close();
    }
}
