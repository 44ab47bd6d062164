package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
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
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.testing.Rows;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CPU's row-block projections pick their kernel by the rows of the pass (the decoder script's
 * {@code project}): exactly one, sixteen and thirty-two rows take the batched matmul, other counts
 * from two in float32 oneDNN's linear over the plain weight, except the LM head's from sixteen rows.
 * oneDNN keeps memory for every row count it meets, so from seventeen rows it must see the rows
 * padded up to a few sizes, never the unbounded counts of prefill chunks. Each must give
 * {@code linear}'s products (the GPU layout's branch, MKL), biases included, on a shape that
 * oneDNN's prepacked linear got wrong in libtorch 2.7.1 (a 100 x 30 weight, here the LM head;
 * ReferenceParityTest's models have the 64 x 64 one).
 */
class CpuProjectionKernelTest {

    static final String ONEDNN = "mkldnn::_linear_pointwise";
    /** Its schema's: input, weight, bias, attribute, scalars, algorithm. */
    static final int ONEDNN_ARGUMENTS = 6;
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

    /** {@code oneDnnRows}: the rows oneDNN's linear sees in each layer projection, 0 where the batched matmul runs. */
    @ParameterizedTest(name = "{0} rows")
    @CsvSource({"1, 0", "2, 2", "3, 3", "4, 4", "7, 7", "15, 15", "16, 0", "17, 18", "32, 0", "33, 36", "64, 64"})
    void eachRowCountTakesItsKernelAndGivesLinearsProducts(int rows, long oneDnnRows) {
        ProjectionLayouts.requireApplied(rowBlocks.model(), ProjectionLayout.ROW_BLOCKS);
        ProjectionLayouts.requireApplied(linear.model(), ProjectionLayout.LINEAR);

        float[][] expected = new float[1][];
        // The LINEAR model runs the same attention: its bmm count is the attention's alone.
        int attentionBmm = ProfiledOps.of(() -> expected[0] = logits(linear.model(), rows)).kernels().getOrDefault(BMM, 0);
        float[][] actual = new float[1][];
        ProfiledOps ops = ProfiledOps.of(() -> actual[0] = logits(rowBlocks.model(), rows));

        Map<String, Integer> kernels = ops.kernels();
        int layerOneDnn = oneDnnRows == 0 ? 0 : PROJECTIONS - 1;
        int headOneDnn = rows > 1 && rows < 16 ? 1 : 0;
        assertEquals(layerOneDnn + headOneDnn, kernels.getOrDefault(ONEDNN, 0), rows + " rows: " + kernels);
        assertEquals(PROJECTIONS - layerOneDnn - headOneDnn, kernels.getOrDefault(BMM, 0) - attentionBmm, rows + " rows: " + kernels);
        List<Long> seen = ProfiledOps.firstInputRows(() -> logits(rowBlocks.model(), rows), ONEDNN, ONEDNN_ARGUMENTS);
        assertTrue(seen.stream().allMatch(r -> r == oneDnnRows), rows + " rows: oneDNN saw " + seen);
        double worst = Rows.maxDiff(expected[0], actual[0]);
        assertTrue(worst < TOLERANCE, rows + " rows: logits differ from linear's by " + worst);
    }

    /**
     * Over every row count from 17 to 1,024 (but 32, the batched matmul's) oneDNN sees at most
     * 48 (eight per power of two), so it keeps at most 48 primitives per weight shape; none more than
     * an eighth above the rows given, and the padding rows never reach the products.
     */
    @Test
    void fromSeventeenRowsOneDnnSeesAFewPaddedRowCounts() {
        TorchRuntime.engine();
        int in = 8;
        int out = 24;
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
             var projector = DecoderScript.compile(m, DecoderScript.Root.PROJECTOR)) {
            NDArray weight = m.randomNormal(new Shape(out, in));
            NDArray bias = m.randomNormal(new Shape(out));
            NDArray blocks = weight.reshape(2, out / 2, in);
            List<NDArray> inputs = new ArrayList<>();
            List<NDArray> outputs = new ArrayList<>();
            for (int rows = 17; rows <= 1024; rows++) {
                if (rows != 32) {
                    inputs.add(m.randomNormal(new Shape(rows, in)));
                }
            }
            List<Long> seen = ProfiledOps.firstInputRows(() -> {
                for (NDArray x : inputs) {
                    outputs.add(projector.forward(new DecoderScript.ProjectCall(x, blocks, bias), m));
                }
            }, ONEDNN, ONEDNN_ARGUMENTS);
            assertEquals(inputs.size(), seen.size());
            for (int i = 0; i < inputs.size(); i++) {
                NDArray x = inputs.get(i);
                long rows = x.getShape().get(0);
                long padded = seen.get(i);
                assertTrue(padded >= rows && padded <= rows + rows / 8, rows + " rows padded to " + padded);
                NDArray y = outputs.get(i);
                assertEquals(new Shape(rows, out), y.getShape());
                float worst = y.sub(x.matMul(weight.transpose()).add(bias)).abs().max().getFloat();
                assertTrue(worst < TOLERANCE, rows + " rows: differ from x W^T + b by " + worst);
            }
            TreeSet<Long> distinct = new TreeSet<>(seen);
            assertTrue(distinct.size() <= 48, distinct.size() + " row counts: " + distinct);
        }
    }

    /** oneDNN's branch is float32's alone: in 16 bits every row count keeps the batched matmul. */
    @ParameterizedTest(name = "{0}, {1} rows")
    @CsvSource({"BFLOAT16, 4", "BFLOAT16, 17", "BFLOAT16, 33", "FLOAT16, 4", "FLOAT16, 17", "FLOAT16, 33"})
    void sixteenBitsKeepTheBatchedMatmul(DataType dtype, int rows) {
        try (LoadedModel half = LoadedModel.load(DummyShapes.options(config(), new ComputeTarget(Device.cpu(), dtype))
                .withProjectionLayout(ProjectionLayout.ROW_BLOCKS))) {
            ProjectionLayouts.requireApplied(half.model(), ProjectionLayout.ROW_BLOCKS);
            ProfiledOps ops = ProfiledOps.of(() -> logits(half.model(), rows));
            assertEquals(0, ops.kernels().getOrDefault(ONEDNN, 0), dtype + ", " + rows + " rows: " + ops.kernels());
        }
    }

    /** The logits of {@code rows} one-token sequences, each at position 0 in a block of its own, as one pass. */
    static float[] logits(DecoderModel model, int rows) {
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
