package io.spillway.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.arch.DecoderScript;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
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
 * A decode step's attention over every layer of the model (30 for SmolLM2-135M, 16 for
 * Llama-3.2-1B), float32 on the CPU: the paged path the engine runs ({@code backend}: GatherAttention, the CPU's, plans the
 * step's index tensors once, then the decoder script's {@code attend}, per layer: write this step's
 * K and V into their cache slots, gather each sequence's context through its block table, scores,
 * softmax, weighted values), in one script call, against the same math over K and V already laid out
 * contiguously (what a non-paged server keeps per sequence) as DJL ops, five per layer: the
 * contiguous figure carries DJL's per-op cost (about 10 µs) that the script does not.
 *
 * <p>What the figure means: per layer both read {@code batch * context * 2 * kvHeads * headDim * 4}
 * bytes of KV; times the layers, over the memory bandwidth, is the floor. The paged path's gap to
 * the contiguous one is the price of paging (the gather copies the context once more). The
 * block-table backends (the GPU's plan) gather whole blocks and mask from positions on the device.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true"})
public class AttentionBenchmark {

    /** Both models' head size. */
    private static final int HEAD_DIM = 64;

    /** heads / kvHeads / headDim of SmolLM2-135M (9/3/64) and Llama-3.2-1B (32/8/64). */
    @Param({"smollm2", "llama32_1b"})
    String model;

    @Param({"1", "16"})
    int batch;

    /** {@code gather}, {@code gather-native}, {@code blocks-matmul} or {@code blocks-sdpa} ({@link AttentionChoice}). */
    @Param({"gather", "blocks-sdpa"})
    String backend;

    @Param({"512", "2048"})
    int context;

    private NDManager manager;
    private AttentionBackend attention;
    private ForwardBatch decode;
    private HostStaging staging;
    private NDArray q;
    private NDArray stepKv;
    private TorchScriptModule script;
    private NDArray keys;
    private NDArray values;
    private int heads;
    private int kvHeads;
    private int layers;

    @Setup(Level.Trial)
    public void allocate() {
        TorchRuntime.engine();
        boolean smol = model.equals("smollm2");
        heads = smol ? 9 : 32;
        layers = smol ? 30 : 16;
        kvHeads = smol ? 3 : 8;
        ObjectNode json = ConfigJson.llama(heads * HEAD_DIM, 4 * heads * HEAD_DIM, 1, heads, kvHeads, 1000, 8192, true);
        ModelConfig config = ModelConfig.parse(json);
        manager = NDManager.newBaseManager();
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int blocksPerSequence = (context + 1 + blockSize - 1) / blockSize;
        PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(config, blockSize, DataType.FLOAT32, batch * blocksPerSequence + 1),
                manager.getDevice(), manager);
        attention = AttentionChoice.parse(backend).create(cache, config);
        staging = new HostStaging(manager.getDevice(), 1 << 20);
        List<SequenceChunk> step = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] table = new int[blocksPerSequence];
            for (int b = 0; b < table.length; b++) {
                table[b] = 1 + s * blocksPerSequence + b;
            }
            step.add(SequenceChunk.decode(1, context, table));
        }
        decode = ForwardBatch.of(step, blockSize);
        q = manager.randomNormal(new Shape(batch, heads, HEAD_DIM), DataType.FLOAT32);
        stepKv = manager.randomNormal(new Shape(batch, 2 * kvHeads * HEAD_DIM), DataType.FLOAT32);
        script = DecoderScript.compile(manager, DecoderScript.Root.ATTENTION);
        keys = manager.randomNormal(new Shape(batch, kvHeads, HEAD_DIM, context + 1), DataType.FLOAT32);
        values = manager.randomNormal(new Shape(batch, kvHeads, context + 1, HEAD_DIM), DataType.FLOAT32);
    }

    @Benchmark
    public float paged() {
        try (NDManager step = manager.newSubManager()) {
            staging.reset();
            StepAttention plan = attention.begin(decode, step, staging);
            // Each layer of this one-layer cache stands for one of the model's: same shapes, same work.
            StepAttention everyLayer = new StepAttention(Collections.nCopies(layers, plan.caches().getFirst()), plan.writeSlots(),
                    plan.groups(), new long[layers], plan.windows());
            return script.forward(new DecoderScript.AttentionCall(q, stepKv, everyLayer, heads, kvHeads, HEAD_DIM), step).getFloat(0, 0);
        }
    }

    @Benchmark
    public float contiguous() {
        try (NDManager step = manager.newSubManager()) {
            float sum = 0;
            for (int layer = 0; layer < layers; layer++) {
                NDArray queries = q.reshape(batch, kvHeads, heads / kvHeads, HEAD_DIM);
                NDArray out = queries.matMul(keys).softmax(-1).matMul(values).reshape(batch, heads * HEAD_DIM);
                out.attach(step);
                sum += out.getFloat(0, 0);
            }
            return sum;
        }
    }

    @TearDown(Level.Trial)
    public void free() {
        script.close();
        manager.close();
    }
}
