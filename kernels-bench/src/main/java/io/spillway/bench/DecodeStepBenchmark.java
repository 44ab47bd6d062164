package io.spillway.bench;

import io.spillway.models.LoadedModel;
import io.spillway.models.arch.Quantization;
import io.spillway.models.generate.DecodeStepRig;
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
     * {@code none} (float32), {@code int8} ({@link Quantization}), or {@code awq-int4} (a random AWQ
     * checkpoint, {@link ModelShapes#smolLm2_135m(String)}), {@code awq-int4+lm-head=int8} with its
     * LM head int8; weight bytes differ, and so the floor.
     */
    @Param({"none"})
    String quantization;

    private LoadedModel loaded;
    private DecodeStepRig rig;
    private long steps;

    @Setup(Level.Trial)
    public void load() {
        loaded = LoadedModel.load(ModelShapes.smolLm2_135m(quantization));
        rig = new DecodeStepRig(loaded.model(), batch, context, 42);
    }

    @Benchmark
    public long[] decodeStep() {
        steps++;
        return rig.step();
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
        rig.close();
        loaded.close();
    }
}
