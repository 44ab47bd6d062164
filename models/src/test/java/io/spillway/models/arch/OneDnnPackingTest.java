package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
            OneDnnWeights.Packer packer = new OneDnnWeights.Packer(m, m.zeros(new Shape(0), DataType.FLOAT32));
            packer.add(weight);
            try (OneDnnWeights packed = packer.finish()) {
                assertEquals(kept, packed.packed(0), out + " x " + in + ": kept");
                IValue list = kept ? packed.value() : unchecked.forward(IValue.from((PtNDArray) weight));
                double[] errors = sweepErrors(sweep, list, weight, rows);
                if (!kept) {
                    list.close();
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

    private static double[] sweepErrors(TorchScriptModule sweep, IValue list, NDArray weight, long[] rows) {
        try (IValue w = IValue.from((PtNDArray) weight);
             IValue counts = IValue.listFrom(rows);
             IValue out = sweep.forward(list, w, counts)) {
            return Arrays.stream(out.toIValueArray()).mapToDouble(IValue::toDouble).toArray();
        }
    }

    /** 2-15, then the sizes onednn_rows pads 17 to {@code max} rows up to. */
    private static long[] decoderRowCounts(int max) {
        List<Long> counts = new ArrayList<>();
        for (long r = 2; r <= 15; r++) {
            counts.add(r);
        }
        for (int octave = 16; octave <= max; octave *= 2) {
            for (int k = 1; k <= 8 && octave + k * (octave / 8) <= max; k++) {
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
            // A pass reads one copy or the other: its bandwidth floor is the plain model's.
            assertEquals(plain.model().weightSummary().bytes(), packs.model().weightSummary().streamedBytes());
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
        assertEquals(expected.length, actual[0].length);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - actual[0][i]));
        }
        assertTrue(worst < TOLERANCE, rows + " rows: logits differ from linear's by " + worst);
        assertTrue(seen.stream().allMatch(r -> r == padded), rows + " rows: oneDNN saw " + seen + ", not " + padded);
        return seen;
    }
}
