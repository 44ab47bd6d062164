package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import io.spillway.models.testing.Rows;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CPU's float32 layer projections packed for oneDNN at load ({@link OneDnnWeights},
 * {@link ProjectionLayout#ROW_BLOCKS_AND_ONEDNN}): libtorch 2.7.1 packs some shapes wrongly, so the
 * packer checks each packing and refuses a wrong one. A packing it keeps must give {@code linear}'s
 * products at every row count the decoder sends it; one it refuses must be one that is wrong; and a
 * model runs every pass of two rows or more of its kept entries through them, one-row passes and
 * refused entries as {@link ProjectionLayout#ROW_BLOCKS} does, with {@code linear}'s logits.
 */
class OneDnnPackingTest {

    private static final double TOLERANCE = 1e-4;
    private static final int LAYERS = 2;

    /** Multiplies by entry 0 of a packed list at each row count: the worst |packed - linear| relative to the largest product. */
    private static final String SWEEP = """
            class Sweep(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Sweep, packed: List[Tensor], w: Tensor, rows: List[int]) -> List[float]:
                errors = annotate(List[float], [])
                for m in rows:
                  x = torch.sin(torch.arange(m * w.size(1), dtype=6).view([m, w.size(1)]) * 1.3)
                  expected = torch.linear(x, w)
                  got = ops.mkldnn._linear_pointwise(x, packed[0], None, "none", annotate(List[Optional[number]], []), "")
                  errors.append(float((got - expected).abs().max() / expected.abs().max()))
                return errors
            """;

    /** Packs at the hint the shipped packer uses, unchecked: what the packer would keep without its check. */
    private static final String UNCHECKED = """
            class Unchecked(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Unchecked, w: Tensor) -> List[Tensor]:
                return [ops.mkldnn._reorder_linear_weight(w, 16)]
            """;

    private static LoadedModel packs;
    private static LoadedModel refuses;
    private static LoadedModel linearPacks;
    private static LoadedModel linearRefuses;

    @BeforeAll
    static void load() {
        packs = load(packingConfig(), ProjectionLayout.ROW_BLOCKS_AND_ONEDNN);
        linearPacks = load(packingConfig(), ProjectionLayout.LINEAR);
        refuses = load(refusingConfig(), ProjectionLayout.ROW_BLOCKS_AND_ONEDNN);
        linearRefuses = load(refusingConfig(), ProjectionLayout.LINEAR);
    }

    @AfterAll
    static void close() {
        for (LoadedModel m : new LoadedModel[] {packs, linearPacks, refuses, linearRefuses}) {
            if (m != null) {
                m.close();
            }
        }
    }

    private static LoadedModel load(ObjectNode config, ProjectionLayout layout) {
        return LoadedModel.load(DummyShapes.options(config, ComputeTarget.cpuFloat32()).withProjectionLayout(layout));
    }

    /**
     * hidden 64 (4 heads of 16, 2 KV heads), intermediate 96, vocabulary 128: projections 128 x 64,
     * 64 x 64, 192 x 64, 64 x 96 and the LM head's 128 x 64, all packed right.
     */
    private static ObjectNode packingConfig() {
        var config = ConfigJson.llama(64, 96, LAYERS, 4, 2, 128, 256, false);
        config.put("attention_bias", true);
        return config;
    }

    /**
     * hidden 30 (3 heads of 10, one KV head), intermediate 100: projections 50 x 30, 30 x 30, 200 x 30
     * and 30 x 100, of which 2.7.1 packs some wrongly.
     */
    private static ObjectNode refusingConfig() {
        var config = ConfigJson.llama(30, 100, LAYERS, 3, 1, 100, 256, false);
        config.put("attention_bias", true);
        return config;
    }

    /**
     * Every weight shape below is packed by the shipped packer; where it keeps the packing, the
     * products match {@code linear}'s at every row count the decoder gives oneDNN up to 1,024 (2-15
     * as they are, then the padded sizes; 256 for the vocabulary-sized one); where it refuses, the
     * unchecked packing is wrong at those counts. The shapes include ones 2.7.1 packs wrongly
     * (100 x 30 and 200 x 30, the refusing model's, and 100 x 64).
     */
    @ParameterizedTest(name = "{0} x {1}")
    @CsvSource({"100, 30, false", "50, 30, true", "30, 30, true", "200, 30, false", "30, 100, true", "64, 64, true", "128, 256, true",
                "192, 64, true", "64, 96, true", "128, 64, true", "100, 64, false",
                "960, 576, true", "49152, 576, true"})
    void theCheckKeepsExactlyThePackingsThatAreRightAtEveryRowCount(int out, int in, boolean kept) {
        TorchRuntime.engine();
        // Up to the CPU's default step budget (256 tokens) for a vocabulary-sized weight, whose sweep to 1,024 takes half a minute.
        long[] rows = decoderRowCounts((long) out * in > 1 << 20 ? 256 : 1024);
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
             TorchScriptModule sweep = TorchScriptModule.compile(m, "Sweep", SWEEP);
             TorchScriptModule unchecked = TorchScriptModule.compile(m, "Unchecked", UNCHECKED)) {
            NDArray weight = m.randomNormal(new Shape(out, in));
            try (OneDnnWeights packed = pack(m, weight)) {
                assertEquals(kept, packed.packed(0), out + " x " + in + ": kept");
                double[] errors;
                if (kept) {
                    errors = sweepErrors(sweep, packed.value(), weight, rows);
                } else {
                    try (IValue w = IValue.from((PtNDArray) weight);
                         IValue list = unchecked.forward(w)) {
                        errors = sweepErrors(sweep, list, weight, rows);
                    }
                }
                for (int i = 0; i < rows.length; i++) {
                    if (kept) {
                        assertTrue(errors[i] < TOLERANCE, out + " x " + in + " at " + rows[i] + " rows: relative error " + errors[i]);
                    } else {
                        assertTrue(errors[i] > 0.01, out + " x " + in + " refused, yet right at " + rows[i] + " rows: " + errors[i]);
                    }
                }
            }
        }
    }

    /** {@code weight} through the shipped packer, as the loader packs a projection. */
    private static OneDnnWeights pack(NDManager m, NDArray weight) {
        try (OneDnnWeights.Packer packer = new OneDnnWeights.Packer(m, m.zeros(new Shape(0), DataType.FLOAT32))) {
            packer.add(weight);
            return packer.finish();
        }
    }

    /**
     * layer_project alone, with a oneDNN list as given, no int8 or int4 projections and entry 0:
     * which weight a pass multiplies by, whatever the products of the rest of the decoder.
     */
    private static final String LAYER_PROJECT = """

            class LayerProjectProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.LayerProjectProbe, x: Tensor, blocks: Tensor, onednn: List[Tensor], is_lm_head: bool) -> Tensor:
                return __torch__.layer_project(x, blocks, x[0:0], annotate(List[__torch__.torch.classes.quantized.LinearPackedParamsBase], []),
                                               annotate(List[Tuple[Tensor, Tensor, bool]], []), onednn, 0, is_lm_head)
            """;

    /**
     * The packed entry, not the row blocks, is what every pass of two rows or more multiplies by,
     * in a layer and in the LM head, and one row never does: with -W packed beside W's row blocks,
     * the product is -x W^T from two rows and x W^T at one. A refused entry leaves every pass to the
     * row blocks.
     */
    @ParameterizedTest(name = "{0} rows, LM head {1}")
    @CsvSource({"1, false", "2, false", "4, false", "15, false", "16, false", "17, false", "32, false", "33, false", "64, false",
                "1, true", "4, true", "16, true", "17, true", "33, true"})
    void passesOfTwoRowsOrMoreMultiplyByThePackedEntry(int rows, boolean lmHead) {
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
             TorchScriptModule probe = TorchScriptModule.compile(m, "LayerProjectProbe", DecoderScript.source() + LAYER_PROJECT)) {
            NDArray weight = m.randomNormal(new Shape(64, 64));
            NDArray x = m.randomNormal(new Shape(rows, 64));
            NDArray plain = x.matMul(weight.transpose());
            try (OneDnnWeights negated = pack(m, weight.neg());
                 OneDnnWeights refused = pack(m, m.randomNormal(new Shape(100, 30)))) {
                assertTrue(negated.packed(0) && !refused.packed(0), "64 x 64 packs right, 100 x 30 does not");
                NDArray expected = rows > 1 ? plain.neg() : plain;
                assertProduct(expected, probe(probe, x, weight, negated.value(), lmHead), rows + " rows over -W packed");
                assertProduct(plain, probe(probe, x, weight, refused.value(), lmHead), rows + " rows beside a refused entry");
            }
        }
    }

    private static NDArray probe(TorchScriptModule probe, NDArray x, NDArray weight, IValue onednn, boolean lmHead) {
        try (IValue xs = IValue.from((PtNDArray) x);
             IValue blocks = IValue.from((PtNDArray) weight.reshape(2, 32, 64));
             IValue head = IValue.from(lmHead);
             IValue out = probe.forward(xs, blocks, onednn, head)) {
            return out.toTensor((ai.djl.pytorch.engine.PtNDManager) x.getManager());
        }
    }

    private static void assertProduct(NDArray expected, NDArray actual, String what) {
        assertEquals(expected.getShape(), actual.getShape(), what);
        float worst = expected.sub(actual).abs().max().getFloat();
        assertTrue(worst < TOLERANCE * 10, what + ": differs from the expected product by " + worst);
    }

    private static double[] sweepErrors(TorchScriptModule sweep, IValue list, NDArray weight, long[] rows) {
        try (IValue w = IValue.from((PtNDArray) weight);
             IValue counts = IValue.listFrom(rows);
             IValue out = sweep.forward(list, w, counts)) {
            return Arrays.stream(out.toIValueArray()).mapToDouble(IValue::toDouble).toArray();
        }
    }

    /** 2-15, then 16 and the sizes onednn_rows pads 17 to {@code max} rows up to (16, 18, 20, ..., 32, 36, ...). */
    private static long[] decoderRowCounts(int max) {
        List<Long> counts = new ArrayList<>();
        for (long r = 2; r <= 15; r++) {
            counts.add(r);
        }
        for (int octave = 16; octave <= max; octave *= 2) {
            for (int k = 0; k < 8 && octave + k * (octave / 8) <= max; k++) {
                counts.add((long) octave + k * (octave / 8));
            }
        }
        return counts.stream().mapToLong(Long::longValue).toArray();
    }

    /**
     * A model whose packings are all kept: one row keeps the batched matmul everywhere; from two
     * rows, 16 and 32 included (where the plain row blocks take the batched matmul, and the LM head
     * from 16), every projection runs oneDNN's linear; logits are linear's.
     */
    @ParameterizedTest(name = "{0} rows")
    @CsvSource({"1, 0", "2, 2", "4, 4", "15, 15", "16, 16", "17, 18", "32, 32", "33, 36", "64, 64"})
    void keptPackingsServeEveryPassOfTwoRowsOrMore(int rows, long padded) {
        ProjectionLayouts.requireApplied(packs.model(), ProjectionLayout.ROW_BLOCKS_AND_ONEDNN);
        OneDnnWeights onednn = packs.model().constants().onednn();
        assertEquals(4 * LAYERS + 1, onednn.packedCount(), "every projection packed");
        List<Long> seen = runAgainstLinear(packs, linearPacks, rows, padded);
        assertEquals(rows > 1 ? 4 * LAYERS + 1 : 0, seen.size(), rows + " rows: oneDNN saw " + seen);
    }

    /**
     * A model with refused packings runs those projections as plain row blocks (a layer's takes the
     * batched matmul at 16 and 32 rows, the LM head's from 16, oneDNN's linear over the plain weight
     * at other counts from two) and the kept ones packed; its logits are linear's.
     */
    @ParameterizedTest(name = "{0} rows")
    @CsvSource({"1, 0", "4, 4", "16, 16", "17, 18", "32, 32"})
    void refusedPackingsFallBackToTheRowBlocks(int rows, long padded) {
        ProjectionLayouts.requireApplied(refuses.model(), ProjectionLayout.ROW_BLOCKS_AND_ONEDNN);
        OneDnnWeights onednn = refuses.model().constants().onednn();
        int kept = onednn.packedCount();
        int refused = onednn.size() - kept;
        assertTrue(refused > 0 && kept > 0, kept + " kept, " + refused + " refused: the model should have both");
        int head = 4 * LAYERS;
        int oneDnn = 0;
        for (int i = 0; i < onednn.size() && rows > 1; i++) {
            boolean plainTakesBmm = i == head ? rows >= 16 : rows == 16 || rows == 32;
            oneDnn += onednn.packed(i) || !plainTakesBmm ? 1 : 0;
        }
        List<Long> seen = runAgainstLinear(refuses, linearRefuses, rows, padded);
        assertEquals(oneDnn, seen.size(), rows + " rows: oneDNN saw " + seen);
        assertTrue(refuses.model().weightSummary().kernel().contains(refused + " of " + onednn.size() + " projections refused packing"),
                refuses.model().weightSummary().kernel());
    }

    /** The row-block layouts run CPU kernels (oneDNN, threads splitting rows): named for a GPU, the load refuses them. */
    @Test
    void rowBlockLayoutsAreRefusedOnAGpu() {
        ComputeTarget gpu = new ComputeTarget(Device.gpu(), DataType.FLOAT32);
        for (ProjectionLayout layout : List.of(ProjectionLayout.ROW_BLOCKS, ProjectionLayout.ROW_BLOCKS_AND_ONEDNN)) {
            Exception e = assertThrows(IllegalArgumentException.class, () -> new WeightLoader(null, null, gpu, layout, Quantization.NONE, QuantizedKernels.LIBTORCH));
            assertTrue(e.getMessage().contains("are the CPU's layouts"), e.getMessage());
        }
    }

    /** A oneDNN list that does not match the model's weights, in length or in an entry's shape, fails at load. */
    @Test
    void constantsRefuseAOneDnnListThatDoesNotMatchTheWeights() {
        DecoderConstants c = packs.model().constants();
        Exception shapes = assertThrows(IllegalArgumentException.class, () -> withOneDnn(c, refuses.model().constants().onednn()));
        assertTrue(shapes.getMessage().contains("layer 0's oneDNN entry 0 is (50, 30), its plain weight (128, 64)"), shapes.getMessage());
        try (NDManager m = NDManager.newBaseManager(Device.cpu());
             OneDnnWeights one = pack(m, m.randomNormal(new Shape(128, 64)))) {
            Exception length = assertThrows(IllegalArgumentException.class, () -> withOneDnn(c, one));
            assertTrue(length.getMessage().contains("1 oneDNN projections"), length.getMessage());
        }
    }

    private static DecoderConstants withOneDnn(DecoderConstants c, OneDnnWeights onednn) {
        return new DecoderConstants(c.embedding(), c.embeddingScales(), c.layers(), c.finalNorm(), c.lmHead(), c.packed(), c.grouped(), onednn,
                c.cosTable(), c.sinTable(), c.eps(), c.heads(), c.kvHeads(), c.headDim());
    }

    /** The summary counts the second copy's bytes: every projection's float32 weight again, the LM head's included. */
    @Test
    void theSummaryCountsThePackedCopy() {
        DecoderConstants c = packs.model().constants();
        long projectionBytes = c.lmHead().size() * 4;
        for (LayerWeights w : c.layers()) {
            for (NDArray weight : List.of(w.qkv(), w.output(), w.gateUp(), w.down())) {
                projectionBytes += weight.size() * 4;
            }
        }
        assertEquals(projectionBytes, c.onednn().bytes());
        try (LoadedModel plain = load(packingConfig(), ProjectionLayout.ROW_BLOCKS)) {
            assertEquals(plain.model().weightSummary().bytes() + projectionBytes, packs.model().weightSummary().bytes());
            // A pass reads one copy or the other, and of the untied table only its tokens' rows: its
            // bandwidth floor is the plain model's weights less that table (vocabulary 128 x 64).
            assertEquals(plain.model().weightSummary().bytes() - 128 * 64 * 4, packs.model().weightSummary().streamedBytes());
            assertFalse(plain.model().weightSummary().kernel().contains("packed"), plain.model().weightSummary().kernel());
        }
        assertEquals("bmm at one row, else oneDNN linear over a packed copy", packs.model().weightSummary().kernel());
    }

    /**
     * Runs {@code rows} one-token sequences through both models; checks the first's logits against
     * the second's and that every call of oneDNN's linear it made saw {@code padded} rows, and
     * returns those calls' rows. (Counted from the
     * calls, not {@link ProfiledOps#kernels}: over a packed weight whose input width is not a
     * multiple of the kernel's block oneDNN runs ops of its own inside the call, which is then no
     * leaf.)
     */
    private static List<Long> runAgainstLinear(LoadedModel model, LoadedModel linear, int rows, long padded) {
        float[] expected = CpuProjectionKernelTest.logits(linear.model(), rows);
        float[][] actual = new float[1][];
        List<Long> seen = ProfiledOps.firstInputRows(() -> actual[0] = CpuProjectionKernelTest.logits(model.model(), rows),
                CpuProjectionKernelTest.ONEDNN, CpuProjectionKernelTest.ONEDNN_ARGUMENTS);
        double worst = Rows.maxDiff(expected, actual[0]);
        assertTrue(worst < TOLERANCE, rows + " rows: logits differ from linear's by " + worst);
        assertTrue(seen.stream().allMatch(r -> r == padded), rows + " rows: oneDNN saw " + seen + ", not " + padded);
        return seen;
    }
}
