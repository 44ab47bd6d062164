package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The operators one decoder layer costs, counted by libtorch's profiler as the compiled script runs
 * a step: a model of three layers against the same model of one, so that what the step does once
 * (embedding, masks, LM head) cancels. On a GPU each kernel is a launch and each dispatched
 * operator a trip through the interpreter and dispatcher, which at decode batch sizes is what a
 * step's time is made of. The budgets are what the script costs today; a change that adds an
 * operator to every layer has to raise one here and say why.
 */
class OpsPerLayerTest {

    private static final int BLOCK = 16;

    private static final String SDPA = "aten::_scaled_dot_product_flash_attention_for_cpu";
    private static final String NATIVE = "spillway::decode_attention";

    /**
     * path, dtype, layout, attention, sequences decoding (0: a prefill of 7 tokens), dispatched
     * budget, kernel budget, the attention kernel that must run. The CPU's one-row decode takes the
     * batched matmul, its three rows and seven oneDNN's linear (CpuProjectionKernelTest). In 16 bits
     * RMSNorm converts to float32 and back (two copies per norm), and a bfloat16 layer aliases its
     * cache (two more dispatches). The CPU's gathered attention lays the scores out by KV head
     * ([sequences * kvHeads, ...], so that its matmuls copy neither keys nor values): a mask (ragged
     * decodes, prefill) takes two views to meet them. With native decodes the gather, both matmuls,
     * the softmax and the mask's views are one operator. On the CPU a float32 RMSNorm, a float32
     * layer's RoPE with its cache write, and its SwiGLU are Spillway's operators (spillway::rms_norm,
     * spillway::rotate_and_store, spillway::swiglu) where libtorch runs six kernels, some fifteen
     * dispatches and four: the float32 rows count them so, GPU path included; a GPU runs libtorch's,
     * as the 16-bit rows count.
     */
    static List<Arguments> budgets() {
        return List.of(
                Arguments.of("GPU path", DataType.FLOAT32, ProjectionLayout.LINEAR, AttentionChoice.BLOCKS_SDPA, 3, 23, 14, SDPA),
                Arguments.of("GPU path", DataType.FLOAT32, ProjectionLayout.LINEAR, AttentionChoice.BLOCKS_SDPA, 0, 27, 16, SDPA),
                Arguments.of("GPU path", DataType.FLOAT16, ProjectionLayout.LINEAR, AttentionChoice.BLOCKS_SDPA, 3, 39, 33, SDPA),
                Arguments.of("GPU path", DataType.FLOAT16, ProjectionLayout.LINEAR, AttentionChoice.BLOCKS_SDPA, 0, 43, 35, SDPA),
                Arguments.of("GPU path", DataType.BFLOAT16, ProjectionLayout.LINEAR, AttentionChoice.BLOCKS_SDPA, 3, 41, 33, SDPA),
                Arguments.of("GPU path", DataType.BFLOAT16, ProjectionLayout.LINEAR, AttentionChoice.BLOCKS_SDPA, 0, 45, 35, SDPA),
                Arguments.of("CPU path", DataType.FLOAT32, ProjectionLayout.ROW_BLOCKS, AttentionChoice.GATHER, 1, 39, 14, "aten::_softmax"),
                Arguments.of("CPU path", DataType.FLOAT32, ProjectionLayout.ROW_BLOCKS, AttentionChoice.GATHER, 3, 30, 15, "aten::_softmax"),
                Arguments.of("CPU path", DataType.FLOAT32, ProjectionLayout.ROW_BLOCKS, AttentionChoice.GATHER, 0, 34, 17, "aten::_softmax"),
                Arguments.of("CPU path", DataType.FLOAT32, ProjectionLayout.ROW_BLOCKS, AttentionChoice.GATHER_NATIVE, 1, 27, 11, NATIVE),
                Arguments.of("CPU path", DataType.FLOAT32, ProjectionLayout.ROW_BLOCKS, AttentionChoice.GATHER_NATIVE, 3, 15, 11, NATIVE));
    }

    @ParameterizedTest(name = "{0}, {1}, decodes {4}")
    @MethodSource("budgets")
    void aLayerStaysWithinItsOperatorBudget(String path, DataType dtype, ProjectionLayout layout, AttentionChoice attention, int decodes,
                                            int dispatchedBudget, int kernelBudget, String attentionKernel) {
        // The float32 budgets count Spillway's operators (see budgets()).
        assumeTrue(dtype != DataType.FLOAT32 || NativeOperators.registered(),
                "native operators not registered here: " + NativeOperators.registration());
        ProfiledOps perLayer = ProfiledOps.difference(run(3, dtype, layout, attention, decodes), run(1, dtype, layout, attention, decodes), 2);
        System.out.printf("%s %s (%s, %s) %s: per layer %d dispatched operators (budget %d), %d kernels (budget %d): %s%n", path, dtype, layout,
                attention, decodes > 0 ? "decode of " + decodes : "prefill of 7", perLayer.dispatched(), dispatchedBudget, perLayer.kernelCount(),
                kernelBudget, perLayer.kernels());
        // The count sees the work: four projections and one attention kernel per layer.
        String projection = layout == ProjectionLayout.LINEAR ? "aten::mm" : decodes == 1 ? "aten::bmm" : CpuProjectionKernelTest.ONEDNN;
        assertTrue(perLayer.kernels().getOrDefault(projection, 0) >= 4, "four projections per layer: " + perLayer.kernels());
        assertEquals(1, perLayer.kernels().getOrDefault(attentionKernel, 0), "one attention kernel per layer: " + perLayer.kernels());
        if (dtype == DataType.FLOAT32) {
            // Both norms, the RoPE with its cache write and the SwiGLU as Spillway's operators (see budgets()).
            assertEquals(2, perLayer.kernels().getOrDefault("spillway::rms_norm", 0), perLayer.kernels().toString());
            assertEquals(1, perLayer.kernels().getOrDefault("spillway::rotate_and_store", 0), perLayer.kernels().toString());
            assertEquals(1, perLayer.kernels().getOrDefault("spillway::swiglu", 0), perLayer.kernels().toString());
        }
        assertTrue(perLayer.dispatched() <= dispatchedBudget, path + ": " + perLayer.dispatched() + " dispatched operators per layer, budget "
                + dispatchedBudget);
        assertTrue(perLayer.kernelCount() <= kernelBudget, path + ": " + perLayer.kernelCount() + " kernels per layer, budget "
                + kernelBudget + ": " + perLayer.kernels());
    }

    private static ProfiledOps run(int layers, DataType dtype, ProjectionLayout layout, AttentionChoice choice, int decodes) {
        var config = ConfigJson.llama(64, 128, layers, 4, 2, 256, 512, true);
        try (LoadedModel loaded = LoadedModel.load(DummyShapes.options(config, new ComputeTarget(Device.cpu(), dtype))
                .withProjectionLayout(layout).withAttention(choice));
             NDManager owner = loaded.model().manager().newSubManager()) {
            DecoderModel model = loaded.model();
            ProjectionLayouts.requireApplied(model, layout);
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), BLOCK, model.target().dtype(), 16),
                    model.target().device(), owner);
            AttentionBackend attention = choice.create(cache, model.config());
            List<SequenceChunk> chunks = decodes > 0
                    ? List.of(SequenceChunk.decode(5, 3, new int[] {1}), SequenceChunk.decode(7, 30, new int[] {2, 3}),
                            SequenceChunk.decode(9, 17, new int[] {4, 5})).subList(0, decodes)
                    : List.of(new SequenceChunk(new int[] {1, 5, 9, 14, 20, 7, 3}, 0, new int[] {6}, true));
            Runnable step = () -> {
                try (NDManager s = owner.newSubManager()) {
                    model.forward(ForwardBatch.of(chunks, BLOCK), attention, s);
                }
            };
            step.run();
            return ProfiledOps.of(step);
        }
    }
}
