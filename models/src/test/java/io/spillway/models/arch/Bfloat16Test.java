package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.checkpoint.FloatConversions;
import io.spillway.models.generate.TeacherForcing;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bfloat16 as DJL cannot hold it: weights rounded into float16-typed containers of bfloat16 bits
 * and aliased as bfloat16 inside the script ({@link ComputeTarget}). The rounding must be exact,
 * and the model must really compute with the rounded weights, not with float32 ones.
 */
class Bfloat16Test {

    private static final ComputeTarget BF16 = new ComputeTarget(Device.cpu(), DataType.BFLOAT16);

    @TempDir
    Path temp;

    /**
     * libtorch's rounding (what loads every weight) against Java's round-to-nearest-even on the
     * edges (ties both ways, the largest finite values that round to infinity, subnormals, signed
     * zeros, infinities, NaN payloads) and on random bit patterns; and every float16 value, which
     * an F16 checkpoint's unfolded tensors round from.
     */
    @Test
    void roundingIsToNearestEvenAndKeepsNaN() {
        Random random = new Random(21);
        float[] edges = {0f, -0f, 1f, 1.00390625f, 1.01171875f, 1.0039063f, -1.00390625f, Float.MAX_VALUE, 3.3961776e38f,
                Float.MIN_VALUE, Float.MIN_NORMAL, 1e-40f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
                Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xffc12345), Float.intBitsToFloat(0x3f808000),
                Float.intBitsToFloat(0x3f818000), Float.intBitsToFloat(0x3f807fff)};
        float[] values = new float[edges.length + 100_000];
        System.arraycopy(edges, 0, values, 0, edges.length);
        for (int i = edges.length; i < values.length; i++) {
            values[i] = Float.intBitsToFloat(random.nextInt());
        }
        short[] halves = new short[1 << 16];
        for (int i = 0; i < halves.length; i++) {
            halves[i] = (short) i;
        }
        try (NDManager manager = NDManager.newBaseManager(Device.cpu(), TorchRuntime.engine().getEngineName());
             Bf16Containers bf16 = new Bf16Containers(manager)) {
            short[] rounded = bits(bf16.round(manager.create(values), manager));
            for (int i = 0; i < values.length; i++) {
                requireRounded(values[i], FloatConversions.floatToBf16(values[i]), rounded[i]);
            }
            ByteBuffer buffer = ByteBuffer.allocateDirect(2 * halves.length).order(ByteOrder.nativeOrder());
            buffer.asShortBuffer().put(halves);
            NDArray allHalves = manager.create(buffer, new Shape(halves.length), DataType.FLOAT16);
            short[] fromHalves = bits(bf16.round(allHalves, manager));
            for (int i = 0; i < halves.length; i++) {
                float value = Float.float16ToFloat(halves[i]);
                requireRounded(value, FloatConversions.floatToBf16(value), fromHalves[i]);
            }
        }
    }

    private static void requireRounded(float value, short expected, short actual) {
        if (Float.isNaN(value)) {
            assertTrue(Float.isNaN(FloatConversions.bf16ToFloat(actual)), "NaN " + Integer.toHexString(Float.floatToRawIntBits(value))
                    + " rounded to " + Integer.toHexString(actual & 0xffff));
        } else {
            assertEquals(expected, actual, () -> value + " (" + Integer.toHexString(Float.floatToRawIntBits(value)) + ") rounded to "
                    + Integer.toHexString(actual & 0xffff) + ", not " + Integer.toHexString(expected & 0xffff));
        }
    }

    /** A BF16 checkpoint's tensor that nothing is folded into (an untied embedding) keeps its stored bits in a bfloat16 model. */
    @Test
    void aBf16CheckpointsUnfoldedTensorKeepsItsBits() throws Exception {
        Path dir = TinyCheckpoint.llama().dtype(io.spillway.models.checkpoint.TensorDType.BF16).writeTo(temp.resolve("bf16-stored"));
        float[] stored;
        try (NDManager manager = NDManager.newBaseManager(Device.cpu(), TorchRuntime.engine().getEngineName());
             io.spillway.models.checkpoint.SafetensorsCheckpoint checkpoint = io.spillway.models.checkpoint.SafetensorsCheckpoint.open(dir)) {
            stored = checkpoint.read("model.embed_tokens.weight", new long[] {96, 64}, manager).toFloatArray();
        }
        try (LoadedModel loaded = LoadedModel.load(ModelLoadOptions.of(dir, BF16))) {
            short[] held = bits(loaded.model().constants().embedding());
            assertEquals(stored.length, held.length);
            for (int i = 0; i < stored.length; i++) {
                // The checkpoint's values are bfloat16 widened exactly: their top 16 bits are what the file holds.
                assertEquals((short) (Float.floatToRawIntBits(stored[i]) >>> 16), held[i], "embedding value " + i);
            }
        }
    }

    /** A container's 16-bit patterns, as stored. */
    static short[] bits(NDArray container) {
        assertEquals(DataType.FLOAT16, container.getDataType(), "a bfloat16 container is float16-typed");
        short[] out = new short[(int) container.size()];
        ByteBuffer.wrap(container.toByteArray()).order(ByteOrder.nativeOrder()).asShortBuffer().get(out);
        return out;
    }

    /**
     * Two LM-head rows that differ only by a factor of 1 + 2⁻⁸ (a tie halfway between two bfloat16
     * values, which rounds to even: back to the first row's values) give exactly equal logits in
     * bfloat16, and logits in that ratio in float32 and float16 (which has the bits to keep it). A
     * model that silently computed with float32 weights fails the first.
     */
    @Test
    void theModelComputesWithBfloat16RoundedWeights() throws Exception {
        int hidden = 64;
        int base = 10;
        int tied = 11;
        float factor = 1 + 0x1p-8f;
        Random signs = new Random(5);
        float[] row = new float[hidden];
        for (int j = 0; j < hidden; j++) {
            // Powers of two: times 1 + 2⁻⁸ each is an exact tie in bfloat16.
            row[j] = (signs.nextBoolean() ? 1 : -1) * (j % 3 == 0 ? 0.25f : 0.125f);
        }
        Path dir = TinyCheckpoint.llama()
                .edit("model.norm.weight", v -> java.util.Arrays.fill(v, 1f))
                .edit("lm_head.weight", v -> {
                    for (int j = 0; j < hidden; j++) {
                        v[base * hidden + j] = row[j];
                        v[tied * hidden + j] = row[j] * factor;
                    }
                })
                .writeTo(temp.resolve("tie"));
        int[] prompt = {1, 17, 42, 5, 63, 8};
        int[] continuation = {30, 2, 77, 9};
        long[] weightBytes = new long[3];
        DataType[] dtypes = {DataType.BFLOAT16, DataType.FLOAT32, DataType.FLOAT16};
        for (int d = 0; d < dtypes.length; d++) {
            DataType dtype = dtypes[d];
            // Row blocks alone: float32's default adds a copy packed for oneDNN, which is not what the sizes compare.
            try (LoadedModel loaded = LoadedModel.load(ModelLoadOptions.of(dir, new ComputeTarget(Device.cpu(), dtype))
                    .withProjectionLayout(ProjectionLayout.ROW_BLOCKS))) {
                WeightSummary summary = loaded.model().weightSummary();
                assertEquals(dtype.toString().toLowerCase(java.util.Locale.ROOT), summary.format());
                weightBytes[d] = summary.bytes();
                float[][] logits = TeacherForcing.logits(loaded.model(), prompt, continuation);
                for (int t = 0; t < logits.length; t++) {
                    float a = logits[t][base];
                    float b = logits[t][tied];
                    String where = dtype + ", position " + t + ": logits " + a + " and " + b;
                    assertTrue(Math.abs(a) > 0.05, where + " (too small to tell the rows apart)");
                    if (dtype == DataType.BFLOAT16) {
                        assertEquals(a, b, 0f, where);
                    } else {
                        assertNotEquals(a, b, where);
                        assertEquals(a * factor, b, Math.abs(a) * (dtype == DataType.FLOAT32 ? 1e-5 : 2e-3), where);
                    }
                }
            }
        }
        assertEquals(weightBytes[2], weightBytes[0], "bfloat16 weights take float16's bytes");
        assertEquals(weightBytes[1], 2 * weightBytes[0], "and half float32's");
    }
}
