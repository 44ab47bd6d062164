package io.spillway.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.TorchRuntime;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The machine's read bandwidth as libtorch sees it: summing a 1 GiB float32 tensor on all intra-op
 * threads. GB/s = 1.074 / (ms per op / 1000). This is the ceiling a batch-1 decode step is judged
 * against: a step must stream every weight once.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true"})
public class MemoryBandwidthBenchmark {

    /** 1 GiB: far beyond any cache, like a model's weights. */
    public static final long BYTES = 1L << 30;

    private NDManager manager;
    private NDArray data;

    @Setup(Level.Trial)
    public void allocate() {
        TorchRuntime.engine();
        manager = NDManager.newBaseManager();
        data = manager.ones(new Shape(BYTES / 4), DataType.FLOAT32);
    }

    @Benchmark
    public float readAll() {
        try (NDManager step = manager.newSubManager()) {
            NDArray sum = data.sum();
            sum.attach(step);
            return sum.getFloat();
        }
    }

    @TearDown(Level.Trial)
    public void free() {
        manager.close();
    }
}
