package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.LoadFormat;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.generate.TeacherForcing;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class Int8QuantizerTest {

    /** A fraction of the largest logit: measured 0.041 in decode and 0.051 in prefill, and 0.53 with each bias scaled by its row. */
    private static final double BIASED_TOLERANCE = 0.1;

    /** max over elements of |dequantized - w| / (scale of its row / 2): at most 1 for a correct round trip. */
    private static float worstErrorInHalfScales(NDArray w, Int8Quantizer.Int8Matrix q, NDArray scales) {
        NDArray back = new Int8Quantizer.Int8Matrix(q.values(), scales, q.zeroPoints()).dequantize();
        return back.sub(w).abs().div(scales.reshape(-1, 1).div(2)).max().getFloat();
    }

    /** Blocks of 32 inputs: each block's largest magnitude on +-127, every weight within half its block's step, zeros padded. */
    @Test
    void blocksOf32ScaleEachBlockToItsOwnRangeAndPadTheLastWithZeros() {
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager()) {
            // 3 rows of 70 inputs (two whole blocks and one of 6), each block on a different range, one block of zeros.
            float[][] w = new float[3][70];
            java.util.Random random = new java.util.Random(9);
            for (int o = 0; o < 3; o++) {
                for (int i = 0; i < 70; i++) {
                    w[o][i] = (o == 1 && i < 32) ? 0 : (float) random.nextGaussian() * (1 + i / 32) * (o + 1) * 0.1f;
                }
            }
            Int8Quantizer.Int8Blocks q = Int8Quantizer.blocksOf32(m.create(w));
            assertEquals(new Shape(3, 96), q.values().getShape());
            assertEquals(new Shape(3, 3), q.scales().getShape());
            byte[] values = q.values().toByteArray();
            float[] scales = q.scales().toFloatArray();
            for (int o = 0; o < 3; o++) {
                for (int b = 0; b < 3; b++) {
                    int largest = 0;
                    for (int i = b * 32; i < (b + 1) * 32; i++) {
                        largest = Math.max(largest, Math.abs(values[o * 96 + i]));
                        if (i >= 70) {
                            assertEquals(0, values[o * 96 + i], "padding at " + i);
                        } else {
                            float scale = scales[o * 3 + b];
                            assertEquals(w[o][i], values[o * 96 + i] * scale, scale / 2 * 1.0001f, "weight " + o + ", " + i);
                        }
                    }
                    assertEquals(o == 1 && b == 0 ? 0 : 127, largest, "row " + o + ", block " + b + "'s largest level");
                }
            }
            NDArray back = q.dequantize();
            assertEquals(new Shape(3, 96), back.getShape());
            assertEquals(0f, back.get(":, 70:").abs().max().getFloat());
            q.close();
        }
    }

    @Test
    void everyWeightComesBackWithinHalfItsRowsScaleAndABrokenScaleIsCaught() {
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager()) {
            // Rows of very different ranges, one of zeros: each needs its own scale.
            NDArray w = m.randomNormal(new Shape(64, 96)).mul(m.create(new float[64]).add(1).cumSum().reshape(-1, 1).mul(0.01f));
            w = w.concat(m.zeros(new Shape(1, 96)), 0);
            // A row that is all positive: an asymmetric grid spends all its levels on it.
            w = w.concat(m.randomUniform(0.5f, 1f, new Shape(1, 96)), 0);
            Int8Quantizer.Int8Matrix q = Int8Quantizer.symmetric(w, 127);
            assertEquals(DataType.INT8, q.values().getDataType());
            assertEquals(new Shape(66), q.scales().getShape());
            assertTrue(q.values().toType(DataType.INT32, false).abs().max().getInt() <= 127);
            float worst = worstErrorInHalfScales(w, q, q.scales());
            assertTrue(worst <= 1.0001f, "round trip error is " + worst + " half-scales");
            assertEquals(0f, q.dequantize().get(64).abs().max().getFloat(), "a row of zeros stays zeros");

            // Each row's scale moved to its neighbour: the bound must catch it.
            NDArray shifted = q.scales().get("1:").concat(q.scales().get(":1"));
            assertTrue(worstErrorInHalfScales(w, q, shifted) > 1.5f, "a scale off by one channel went unnoticed");

            Int8Quantizer.Int8Matrix seven = Int8Quantizer.symmetric(w, 63);
            assertTrue(seven.values().toType(DataType.INT32, false).abs().max().getInt() <= 63);
            assertTrue(worstErrorInHalfScales(w, seven, seven.scales()) <= 1.0001f);

            for (int levels : new int[] {127, 63}) {
                Int8Quantizer.Int8Matrix a = Int8Quantizer.asymmetric(w, levels);
                NDArray v = a.values().toType(DataType.INT32, false);
                assertTrue(v.min().getInt() >= -levels - 1 && v.max().getInt() <= levels, "levels " + levels);
                assertTrue(worstErrorInHalfScales(w, a, a.scales()) <= 1.0001f, "asymmetric, levels " + levels);
                assertEquals(0f, a.dequantize().get(64).abs().max().getFloat(), "a row of zeros stays zeros");
                // The all-positive row's step is about half its symmetric one.
                float ratio = a.scales().getFloat(65) / (levels == 127 ? q : seven).scales().getFloat(65);
                assertTrue(ratio > 0.45f && ratio < 0.56f, "asymmetric over symmetric step " + ratio);
            }
        }
    }

    /**
     * fbgemm applies the per-channel zero points: the packed kernel, at one row and at several
     * (the script's row-scaled path), gives the dequantized weight's product up to the activations'
     * own uint8 rounding.
     */
    @Test
    void thePackedKernelAppliesTheZeroPoints() {
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             Int8Weights.Packer packer = new Int8Weights.Packer(m)) {
            // Lopsided rows: their zero points are far from 0.
            NDArray w = m.randomUniform(-0.2f, 1f, new Shape(48, 96));
            packer.add(w, Int8Quantizer.levelsForThisCpu());
            NDArray expectedWeight = Int8Quantizer.asymmetric(w, Int8Quantizer.levelsForThisCpu()).dequantize();
            try (Int8Weights packed = packer.finish();
                 var script = DecoderScript.compile(m, DecoderScript.Root.INT8_PROJECTOR);
                 NDManager step = m.newSubManager()) {
                for (int rows : new int[] {1, 5}) {
                    NDArray x = m.randomNormal(new Shape(rows, 96)).mul(m.create(new float[rows]).add(1).cumSum().reshape(-1, 1));
                    NDArray y = script.forward(new DecoderScript.Int8ProjectCall(x, packed, 0), step);
                    NDArray expected = x.matMul(expectedWeight.transpose());
                    // One uint8 step of a row (its range / 255) times the weights' summed magnitudes bounds the error.
                    NDArray step255 = x.max(new int[] {1}).sub(x.min(new int[] {1})).div(255).reshape(-1, 1);
                    NDArray bound = step255.mul(expectedWeight.abs().sum(new int[] {1}).reshape(1, -1)).div(2);
                    NDArray excess = y.sub(expected).abs().sub(bound);
                    assertTrue(excess.max().getFloat() <= 1e-3f, rows + " rows: error beyond the activations' rounding "
                            + excess.max().getFloat());
                    // A kernel that ignored the zero points would be off by about zeroPoint * scale * sum(x) per output.
                    assertTrue(y.sub(expected).abs().max().getFloat() < 0.05f * expected.abs().max().getFloat(), rows + " rows");
                }
            }
        }
    }

    /**
     * Biases stay float beside the packed weights and are added once, after the kernel, by both
     * kernels' script paths (fbgemm's int8_project, Spillway's grouped_project): with fbgemm's row
     * scaling of a multi-row call, a bias inside the packed weight would come back multiplied by the
     * row's magnitude. Decode (one row per call) and prefill (many) both stay near float32 on a
     * model with biases on its qkv and o projections (Llama's attention_bias).
     */
    @ParameterizedTest
    @EnumSource(QuantizedKernels.class)
    void biasesAreAddedOnceInDecodeAndInPrefill(QuantizedKernels kernels, @TempDir Path dir) throws Exception {
        // Spillway's kernels run on every CPU with AVX-512 VNNI (NativeInt4LinearTest fails where they do not).
        assumeTrue(kernels == QuantizedKernels.LIBTORCH || NativeInt4LinearTest.operatorRuns(), "Spillway's operators need AVX-512 VNNI");
        Path checkpoint = TinyCheckpoint.llama().set("attention_bias", true).writeTo(dir.resolve("biased"));
        int[] prompt = {1, 17, 42, 5, 88, 23};
        int[] continuation = {9, 61, 30, 77, 4, 50, 12, 66};
        ModelLoadOptions options = ModelLoadOptions.of(checkpoint, ComputeTarget.cpuFloat32());
        try (LoadedModel f = LoadedModel.load(options);
             LoadedModel q = LoadedModel.load(options.withQuantization(Quantization.INT8).withQuantizedKernels(kernels))) {
            assertEquals(kernels == QuantizedKernels.LIBTORCH, q.model().weightSummary().describe().contains("fbgemm"),
                    "the kernel asked for: " + q.model().weightSummary().describe());
            for (boolean prefill : new boolean[] {false, true}) {
                float[][] expected = prefill ? TeacherForcing.prefillLogits(f.model(), prompt, continuation)
                        : TeacherForcing.logits(f.model(), prompt, continuation);
                float[][] actual = prefill ? TeacherForcing.prefillLogits(q.model(), prompt, continuation)
                        : TeacherForcing.logits(q.model(), prompt, continuation);
                double worst = 0;
                double range = 0;
                for (int t = 0; t < expected.length; t++) {
                    for (int v = 0; v < expected[t].length; v++) {
                        worst = Math.max(worst, Math.abs(expected[t][v] - actual[t][v]));
                        range = Math.max(range, Math.abs(expected[t][v]));
                    }
                }
                System.out.printf("biased tiny model, int8 on %s, %s: max |logit diff| %.4f of logits up to %.3f%n", kernels,
                        prefill ? "prefill" : "decode", worst, range);
                assertTrue(worst < BIASED_TOLERANCE * range, (prefill ? "prefill" : "decode") + ": max |logit diff| " + worst
                        + " against logits up to " + range);
            }
        }
    }

    @Test
    void vnniIsReadFromTheFlagsLine() {
        assertTrue(Int8Quantizer.hasVnni("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16\n"));
        assertFalse(Int8Quantizer.hasVnni("flags\t\t: fpu avx2 avx_vnni avx512f\n"));
        assertFalse(Int8Quantizer.hasVnni("model name : avx512_vnni\nflags : avx2\n"));
    }

    @Test
    void quantizationParsesItsChoicesAndRefusesOthers() {
        assertEquals(Quantization.NONE, Quantization.parse("none"));
        assertEquals(Quantization.INT8, Quantization.parse("INT8"));
        assertEquals(new Quantization(true, false, true), Quantization.parse("int8, lm-head=float, embeddings=int8"));
        assertEquals("int8,lm-head=float,embeddings=int8", new Quantization(true, false, true).toString());
        assertEquals(Quantization.LM_HEAD_INT8, Quantization.parse(" LM-head=int8 "));
        assertEquals("lm-head=int8", Quantization.LM_HEAD_INT8.toString());
        assertThrows(IllegalArgumentException.class, () -> Quantization.parse("lm-head=float"));
        assertThrows(IllegalArgumentException.class, () -> Quantization.parse("lm-head=int8,embeddings=int8"));
        assertThrows(IllegalArgumentException.class, () -> Quantization.parse("int4"));
        assertThrows(IllegalArgumentException.class, () -> Quantization.parse("int8,head=float"));
        assertThrows(IllegalArgumentException.class, () -> Quantization.parse("int8,lm-head=bf16"));
    }

    /**
     * The kernel at the level the loader picks for this CPU does not saturate: every input at its
     * quantized maximum (255) against every weight at the top level is where 16-bit pair sums overflow.
     */
    @Test
    void theLevelChosenForThisCpuDoesNotSaturateFbgemm() {
        TorchRuntime.engine();
        int levels = Int8Quantizer.levelsForThisCpu();
        try (NDManager m = NDManager.newBaseManager();
             Int8Weights.Packer packer = new Int8Weights.Packer(m)) {
            packer.add(m.ones(new Shape(8, 576)), levels);
            try (Int8Weights packed = packer.finish();
                 var script = DecoderScript.compile(m, DecoderScript.Root.INT8_PROJECTOR);
                 NDManager step = m.newSubManager()) {
                assertEquals(1, packed.size());
                assertEquals(new Shape(8, 576), packed.shape(0));
                assertEquals(8 * 576 + 8 * 8, packed.bytes());
                float[] y = script.forward(new DecoderScript.Int8ProjectCall(m.ones(new Shape(1, 576)), packed, 0), step).toFloatArray();
                for (float v : y) {
                    // Exact but for the float32 rounding of the scales; a saturated sum would give about half.
                    assertEquals(576f, v, 0.5f, "levels " + levels + " on this CPU");
                }
            }
        }
    }

    @Test
    void theLoadSummaryNamesInt8ItsBytesAndKernel(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), ConfigJson.llama(64, 128, 2, 4, 2, 256, 128, true).toString());
        ModelLoadOptions options = ModelLoadOptions.of(dir, ComputeTarget.cpuFloat32()).withFormat(LoadFormat.DUMMY);
        long floatBytes;
        try (LoadedModel f = LoadedModel.load(options)) {
            WeightSummary s = f.model().weightSummary();
            assertEquals("float32", s.format());
            floatBytes = s.bytes();
            // embedding/LM head (tied) 256x64, per layer qkv 128x64, o 64x64, gate-up 256x64, down 64x128 (the layers' norms
            // are folded into them), final norm
            long layerParams = 2 * (128L * 64 + 64 * 64 + 256 * 64 + 64 * 128);
            long params = 256L * 64 + layerParams + 64;
            // and the projections again, packed for oneDNN (the CPU's default layout)
            assertEquals(4 * (params + layerParams + 256L * 64), floatBytes);
            floatBytes = 4 * params;
        }
        try (LoadedModel q = LoadedModel.load(options.withQuantization(Quantization.INT8).withQuantizedKernels(QuantizedKernels.LIBTORCH))) {
            WeightSummary s = q.model().weightSummary();
            assertEquals("int8 (per-channel asymmetric, " + Int8Quantizer.levelsForThisCpu() + " levels; LM head int8, embeddings float32)",
                    s.format());
            assertEquals(Int8Weights.KERNEL, s.kernel());
            // Packed layers and head (1 byte a weight, 4 per scale and 4 per zero point), float embedding and final norm.
            long layers = 2 * (128L * 64 + 64 * 64 + 256 * 64 + 64 * 128 + 8 * (128 + 64 + 256 + 64));
            long head = 256L * 64 + 8 * 256;
            long floats = 4 * (256L * 64 + 64);
            assertEquals(layers + head + floats, s.bytes(), s.describe());
            assertTrue(s.bytes() < floatBytes / 2, s.describe());
        }
        if (!NativeInt4LinearTest.operatorRuns()) {
            return;
        }
        try (LoadedModel q = LoadedModel.load(options.withQuantization(Quantization.INT8))) {
            WeightSummary s = q.model().weightSummary();
            assertEquals("int8 (symmetric in blocks of 32 inputs, 127 levels; LM head int8, embeddings float32)", s.format());
            assertEquals(GroupedWeights.INT8_KERNEL, s.kernel());
            // Packed layers and head: 1 byte a weight, 4 per scale, a scale per output and 32 inputs.
            long layers = 2 * (128L * 64 + 64 * 64 + 256 * 64 + 64 * 128 + 4 * (128 * 2 + 64 * 2 + 256 * 2 + 64 * 4));
            long head = 256L * 64 + 4 * 256 * 2;
            long floats = 4 * (256L * 64 + 64);
            assertEquals(layers + head + floats, s.bytes(), s.describe());
            assertTrue(s.bytes() < floatBytes / 2, s.describe());
        }
        // Widths that are not multiples: gate-up's 344 outputs pad to 352, down's 172 inputs to 192 (6 blocks),
        // the head's 250 outputs to 256; scales are per real output.
        Files.writeString(dir.resolve("config.json"), ConfigJson.llama(64, 172, 1, 4, 2, 250, 128, true).toString());
        try (LoadedModel q = LoadedModel.load(options.withQuantization(Quantization.INT8))) {
            WeightSummary s = q.model().weightSummary();
            long qkv = 128L * 64 + 4 * 128 * 2;
            long o = 64L * 64 + 4 * 64 * 2;
            long gateUp = 352L * 64 + 4 * 344 * 2;
            long down = 64L * 192 + 4 * 64 * 6;
            long head = 256L * 64 + 4 * 250 * 2;
            long floats = 4 * (250L * 64 + 64);
            assertEquals(qkv + o + gateUp + down + head + floats, s.bytes(), s.describe());
        }
    }
}
