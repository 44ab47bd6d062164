package io.spillway.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.arch.DecoderScript;
import io.spillway.models.arch.EngineKernels;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
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
 * One projection {@code y = x W^T} at decode shapes, float32 on the CPU: {@code engine} is the
 * decoder script's own {@code project} over the loader's layout (on a CPU, the weight viewed as row
 * blocks and the kernel picked by the rows: one batched matmul across the intra-op threads at 1 and
 * 16, oneDNN's linear at 4 and 64; see {@code Projection}), {@code linear} is libtorch's plain
 * {@code linear} over the checkpoint's {@code [out, in]} weight, for comparison. The shapes are the fused
 * projections of SmolLM2-135M and Llama-3.2-1B: qkv, o, gate+up, down.
 *
 * <p>What the figure means: at small batches a projection streams its weight once, so its floor is
 * {@code out * in * 4} bytes / memory bandwidth (MemoryBandwidth); as the batch grows it becomes
 * compute-bound, with a floor of {@code 2 * batch * in * out} FLOPs / the machine's GEMM rate (the
 * batch-64 Llama-3.2-1B gate+up figure is the best GEMM rate measured here).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true"})
public class MatmulBenchmark {

    /** {@code model_projection: in x out}. */
    @Param({"smollm2_qkv:576x960", "smollm2_o:576x576", "smollm2_gateup:576x3072", "smollm2_down:1536x576",
            "llama32_1b_qkv:2048x3072", "llama32_1b_o:2048x2048", "llama32_1b_gateup:2048x16384", "llama32_1b_down:8192x2048"})
    String projection;

    @Param({"1", "4", "16", "64"})
    int batch;

    @Param({"engine", "linear"})
    String path;

    private TorchScriptModule projector;
    private NDArray layout;
    private NDArray none;

    private NDManager manager;
    private NDArray x;
    private NDArray weight;

    @Setup(Level.Trial)
    public void allocate() {
        TorchRuntime.engine();
        String[] dims = projection.substring(projection.indexOf(':') + 1).split("x");
        int in = Integer.parseInt(dims[0]);
        int out = Integer.parseInt(dims[1]);
        manager = NDManager.newBaseManager();
        x = manager.randomNormal(new Shape(batch, in), DataType.FLOAT32);
        weight = manager.randomNormal(new Shape(out, in), DataType.FLOAT32).mul(0.02f);
        layout = EngineKernels.cpuLayout(weight, TorchRuntime.intraOpThreads());
        none = manager.zeros(new Shape(0), DataType.FLOAT32);
        projector = DecoderScript.compile(manager, DecoderScript.Root.PROJECTOR);
    }

    @Benchmark
    public float project() {
        try (NDManager step = manager.newSubManager()) {
            NDArray y;
            if (path.equals("engine")) {
                y = projector.forward(new DecoderScript.ProjectCall(x, layout, none), step);
            } else {
                y = x.getNDArrayInternal().linear(x, weight, null).singletonOrThrow();
                y.attach(step);
            }
            return y.getFloat(0, 0);
        }
    }

    @TearDown(Level.Trial)
    public void free() {
        projector.close();
        manager.close();
    }
}
