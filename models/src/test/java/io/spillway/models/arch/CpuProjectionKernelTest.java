package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CPU's row-block projections pick their kernel by the rows of the pass (the decoder script's
 * {@code project}): two to fifteen rows in float32 take oneDNN's linear over the plain weight, one
 * row and sixteen or more the batched matmul (oneDNN keeps memory for every row count it meets, so
 * it must not see the unbounded counts of prefill chunks). Each must give {@code linear}'s products (the GPU
 * layout's branch, MKL), biases included, on a shape that oneDNN's prepacked linear got wrong in
 * libtorch 2.7.1 (a 100 x 30 weight, here the LM head; ReferenceParityTest's models have the 64 x 64
 * one).
 */
class CpuProjectionKernelTest {

    static final String ONEDNN = "mkldnn::_linear_pointwise";
    private static final String BMM = "aten::bmm";
    private static final int LAYERS = 2;
    /** Four per layer and the LM head. */
    private static final int PROJECTIONS = 4 * LAYERS + 1;
    private static final double TOLERANCE = 1e-4;

    private static LoadedModel rowBlocks;
    private static LoadedModel linear;

    @BeforeAll
    static void load() {
        rowBlocks = LoadedModel.load(DummyShapes.options(config(), ComputeTarget.cpuFloat32()).withProjectionLayout(ProjectionLayout.ROW_BLOCKS));
        linear = LoadedModel.load(DummyShapes.options(config(), ComputeTarget.cpuFloat32()).withProjectionLayout(ProjectionLayout.LINEAR));
    }

    /**
     * hidden 30 (3 heads of 10, one KV head), intermediate 100, vocabulary 100: projections of
     * 50 x 30, 30 x 30, 200 x 30, 30 x 100 and 100 x 30; the attention's with biases, which oneDNN
     * adds in the same call.
     */
    private static ObjectNode config() {
        var config = ConfigJson.llama(30, 100, LAYERS, 3, 1, 100, 256, false);
        config.put("attention_bias", true);
        return config;
    }

    @AfterAll
    static void close() {
        rowBlocks.close();
        linear.close();
    }

    @ParameterizedTest(name = "{0} rows")
    @ValueSource(ints = {1, 2, 3, 4, 7, 15, 16, 17, 33, 64})
    void eachRowCountTakesItsKernelAndGivesLinearsProducts(int rows) {
        ProjectionLayouts.requireApplied(rowBlocks.model(), ProjectionLayout.ROW_BLOCKS);
        ProjectionLayouts.requireApplied(linear.model(), ProjectionLayout.LINEAR);

        float[][] expected = new float[1][];
        // The LINEAR model runs the same attention: its bmm count is the attention's alone.
        int attentionBmm = ProfiledOps.of(() -> expected[0] = logits(linear.model(), rows)).kernels().getOrDefault(BMM, 0);
        float[][] actual = new float[1][];
        ProfiledOps ops = ProfiledOps.of(() -> actual[0] = logits(rowBlocks.model(), rows));

        Map<String, Integer> kernels = ops.kernels();
        boolean batchedMatmul = rows == 1 || rows >= 16;
        assertEquals(batchedMatmul ? 0 : PROJECTIONS, kernels.getOrDefault(ONEDNN, 0), rows + " rows: " + kernels);
        assertEquals(batchedMatmul ? PROJECTIONS : 0, kernels.getOrDefault(BMM, 0) - attentionBmm, rows + " rows: " + kernels);
        assertEquals(expected[0].length, actual[0].length);
        double worst = 0;
        for (int i = 0; i < expected[0].length; i++) {
            worst = Math.max(worst, Math.abs(expected[0][i] - actual[0][i]));
        }
        assertTrue(worst < TOLERANCE, rows + " rows: logits differ from linear's by " + worst);
    }

    /** oneDNN's branch is float32's alone: in 16 bits every row count keeps the batched matmul. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DataType.class, names = {"BFLOAT16", "FLOAT16"})
    void sixteenBitsKeepTheBatchedMatmul(DataType dtype) {
        try (LoadedModel half = LoadedModel.load(DummyShapes.options(config(), new ComputeTarget(Device.cpu(), dtype))
                .withProjectionLayout(ProjectionLayout.ROW_BLOCKS))) {
            ProjectionLayouts.requireApplied(half.model(), ProjectionLayout.ROW_BLOCKS);
            ProfiledOps ops = ProfiledOps.of(() -> logits(half.model(), 4));
            assertEquals(0, ops.kernels().getOrDefault(ONEDNN, 0), dtype + ": " + ops.kernels());
        }
    }

    /** The logits of {@code rows} one-token sequences, each at position 0 in a block of its own, as one pass. */
    private static float[] logits(DecoderModel model, int rows) {
        try (NDManager owner = model.manager().newSubManager()) {
            int blockSize = 16;
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), rows + 1),
                    model.target().device(), owner);
            AttentionBackend attention = AttentionChoice.GATHER.create(cache, model.config());
            List<SequenceChunk> chunks = new ArrayList<>();
            for (int s = 0; s < rows; s++) {
                chunks.add(new SequenceChunk(new int[] {(7 * s + 3) % model.config().vocabSize()}, 0, new int[] {s + 1}, true));
            }
            return model.forward(ForwardBatch.of(chunks, blockSize), attention, owner).toFloatArray();
        }
    }
}
