package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Spillway's native int8 projection ({@code spillway::int8_linear}), from a float weight through
 * Java's quantizer ({@link Int8Quantizer#blocksOf32}), the script's packing ({@code
 * spillway_int8_layout}) and dispatch ({@code grouped_project}), against references computed here:
 * the quantized weight times the activations quantized as the operator specifies, which it must
 * match to float32's summation error; the quantized weight times the exact activations, within the
 * bound the activations' quantization implies; and the float weight, within the bound the weights'
 * rounding (half a block's step) implies.
 */
class NativeInt8LinearTest {

    private static final String PROBE = """


            class Int8Probe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Int8Probe, x: Tensor, values: Tensor, scales: Tensor) -> Tensor:
                weight, block_scales, readable = __torch__.spillway_int8_layout(values, scales)
                return __torch__.grouped_project(x, weight, block_scales, readable, x[0:0])

            """;

    private static final String NATIVE = "spillway::int8_linear";

    /**
     * Rows, inputs, outputs: one row and more, row tiles of 4 and each remainder after them, one output
     * block and many, inputs and outputs that are not multiples of 32 and 16 (stories260K's gate-up
     * is 344 x 64, its down 64 x 172), and a call too large for the scratch a thread keeps.
     */
    static List<Arguments> shapes() {
        return List.of(
                Arguments.of(1, 64, 16),
                Arguments.of(2, 64, 32),
                Arguments.of(1, 576, 960),
                Arguments.of(3, 64, 344),
                Arguments.of(4, 172, 64),
                Arguments.of(5, 33, 17),
                Arguments.of(6, 31, 1),
                Arguments.of(7, 1536, 48),
                Arguments.of(9, 576, 3072),
                Arguments.of(200, 128, 80),
                // Quantized rows past what a thread's scratch keeps (activation_blocks.h), and the shapes after it.
                Arguments.of(4096, 2048, 16),
                Arguments.of(3, 100, 20));
    }

    @ParameterizedTest(name = "{0} rows, {1} inputs, {2} outputs")
    @MethodSource("shapes")
    void multipliesAsTheQuantizedWeightsAndActivationsSpecify(int rows, int inputs, int outputs) {
        assumeTrue(NativeInt4LinearTest.operatorRuns(), "Spillway's int8_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        Random random = new Random(rows * 7919L + inputs * 31L + outputs);
        // Weights of different ranges along each row, so that blocks quantize on different scales.
        float[][] weight = new float[outputs][inputs];
        for (float[] row : weight) {
            for (int i = 0; i < inputs; i++) {
                row[i] = (float) (random.nextGaussian() * 0.05 * (1 + i / 40) * (random.nextInt(60) == 0 ? 6 : 1));
            }
        }
        float[][] x = new float[rows][inputs];
        for (int r = 0; r < rows; r++) {
            double range = 0.1 + 3 * random.nextDouble();
            for (int i = 0; i < inputs; i++) {
                x[r][i] = (float) (random.nextGaussian() * range * (random.nextInt(50) == 0 ? 8 : 1));
            }
        }
        try (NDManager m = NDManager.newBaseManager()) {
            Int8Quantizer.Int8Blocks q = Int8Quantizer.blocksOf32(m.create(weight));
            int padded = (int) q.values().getShape().get(1);
            assertEquals((inputs + 31) / 32 * 32, padded);
            byte[] values = q.values().toByteArray();
            float[] scales = q.scales().toFloatArray();
            int blocks = padded / 32;
            float[][] y = run(m, x, q);

            for (int o = 0; o < outputs; o++) {
                for (int i = 0; i < padded; i++) {
                    int v = values[o * padded + i];
                    float scale = scales[o * blocks + i / 32];
                    assertTrue(v >= -127 && v <= 127, "value " + v);
                    if (i >= inputs) {
                        assertEquals(0, v, "the padding past the inputs quantizes to zeros");
                    } else {
                        assertEquals(weight[o][i], v * scale, scale / 2 * 1.0001 + 1e-12,
                                "weight " + o + ", " + i + " comes back within half its block's step");
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                QuantizedActivations a = QuantizedActivations.of(x[r]);
                for (int o = 0; o < outputs; o++) {
                    double asSpecified = 0;
                    double quantizedWeights = 0;
                    double exact = 0;
                    double magnitude = 0;
                    double activationBound = 0;
                    double weightBound = 0;
                    for (int i = 0; i < inputs; i++) {
                        float scale = scales[o * blocks + i / 32];
                        double w = values[o * padded + i] * (double) scale;
                        asSpecified += w * a.scale(i) * a.value(i);
                        quantizedWeights += w * x[r][i];
                        exact += (double) weight[o][i] * x[r][i];
                        magnitude += Math.abs(w * x[r][i]);
                        activationBound += Math.abs(w) * a.scale(i) / QuantizedActivations.RESIDUAL_STEPS / 2;
                        weightBound += scale / 2 * Math.abs(x[r][i]);
                    }
                    double actual = y[r][o];
                    String at = "row " + r + ", output " + o;
                    assertEquals(asSpecified, actual, 1e-6 * magnitude + 1e-6, at + ": the operator's arithmetic is not the specified quantization's");
                    assertEquals(quantizedWeights, actual, activationBound + 1e-6 * magnitude + 1e-6,
                            at + ": further from the quantized weight's product than int8 activations can be");
                    assertEquals(exact, actual, weightBound * 1.0001 + activationBound + 1e-6 * magnitude + 1e-6,
                            at + ": further from the float weight's product than its rounding can be");
                }
            }
            q.close();
        }
    }

    /**
     * Each row is quantized on its own blocks and multiplied by the same instructions whatever tile it
     * falls in, so a row's product is bit for bit the same alone and beside any others: an int8
     * model's decode does not change with what is batched with it (fbgemm's shares a zero point per call).
     */
    @Test
    void aRowsProductDoesNotDependOnTheRowsBesideIt() {
        assumeTrue(NativeInt4LinearTest.operatorRuns(), "Spillway's int8_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        Random random = new Random(3);
        int inputs = 200;
        int outputs = 1000;
        float[][] weight = new float[outputs][inputs];
        for (float[] row : weight) {
            for (int i = 0; i < inputs; i++) {
                row[i] = (float) random.nextGaussian() * 0.1f;
            }
        }
        float[][] x = new float[7][inputs];
        for (int r = 0; r < x.length; r++) {
            for (int i = 0; i < inputs; i++) {
                x[r][i] = (float) (random.nextGaussian() * (1 + 10 * r));
            }
        }
        try (NDManager m = NDManager.newBaseManager()) {
            Int8Quantizer.Int8Blocks q = Int8Quantizer.blocksOf32(m.create(weight));
            float[][] together = run(m, x, q);
            for (int r = 0; r < x.length; r++) {
                float[] alone = run(m, new float[][] {x[r]}, q)[0];
                for (int o = 0; o < outputs; o++) {
                    assertEquals(Float.floatToRawIntBits(alone[o]), Float.floatToRawIntBits(together[r][o]),
                            "row " + r + ", output " + o + ": " + alone[o] + " alone, " + together[r][o] + " beside six others");
                }
            }
            q.close();
        }
    }

    /** NaN where a float matmul gives NaN or an infinity, in that row alone. */
    @Test
    void aNonFiniteInputMakesItsRowNan() {
        assumeTrue(NativeInt4LinearTest.operatorRuns(), "Spillway's int8_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        int inputs = 40;
        int outputs = 20;
        float[][] weight = new float[outputs][inputs];
        for (float[] row : weight) {
            Arrays.fill(row, 0.25f);
        }
        float[][] x = new float[3][inputs];
        for (float[] row : x) {
            Arrays.fill(row, 0.5f);
        }
        x[0][35] = Float.NaN;
        x[2][3] = Float.NEGATIVE_INFINITY;
        try (NDManager m = NDManager.newBaseManager()) {
            Int8Quantizer.Int8Blocks q = Int8Quantizer.blocksOf32(m.create(weight));
            float[][] y = run(m, x, q);
            for (int o = 0; o < outputs; o++) {
                assertTrue(Float.isNaN(y[0][o]), "a NaN input: output " + o + " is " + y[0][o]);
                assertEquals(inputs * 0.25 * 0.5, y[1][o], 1e-4, "the finite row beside it: output " + o);
                assertTrue(Float.isNaN(y[2][o]), "an infinite input: output " + o + " is " + y[2][o]);
            }
            q.close();
        }
    }

    @Test
    void badArgumentsAreAnErrorAndTheNextCallStillWorks() {
        assumeTrue(NativeInt4LinearTest.operatorRuns(), "Spillway's int8_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             OperatorProbe probe = new OperatorProbe(m, "int8_linear", "x: Tensor, weight: Tensor, scales: Tensor", "x, weight, scales")) {
            NDArray x = m.randomNormal(0, 1, new Shape(2, 40), DataType.FLOAT32);
            NDArray weight = m.zeros(new Shape(2, 16, 16, 4), DataType.UINT8);
            NDArray scales = m.ones(new Shape(2, 20), DataType.FLOAT32);

            probe.assertRefused("x must be a dense float32 [rows, in]", x.toType(DataType.FLOAT64, false), weight, scales);
            probe.assertRefused("x must be a dense float32 [rows, in]", x.transpose(), weight, scales);
            probe.assertRefused("scales must be a dense float32 [in / 32 rounded up, out]", x, weight, m.ones(new Shape(1, 20), DataType.FLOAT32));
            probe.assertRefused("scales must be a dense float32", x, weight, m.ones(new Shape(2, 0), DataType.FLOAT32));
            probe.assertRefused("the weight must be a dense uint8", x, weight.toType(DataType.INT8, false), scales);
            probe.assertRefused("the weight must be a dense uint8", x, m.zeros(new Shape(1, 16, 16, 4), DataType.UINT8), scales);
            probe.assertRefused("the weight must be a dense uint8", x, m.zeros(new Shape(2, 8, 16, 4), DataType.UINT8), scales);
            probe.assertRefused("x has no inputs", m.zeros(new Shape(2, 0), DataType.FLOAT32), m.zeros(new Shape(2, 0, 16, 4), DataType.UINT8),
                    m.ones(new Shape(0, 20), DataType.FLOAT32));

            try (IValue out = probe.call(x, weight, scales)) {
                NDArray y = out.toTensor((PtNDManager) m);
                assertEquals(new Shape(2, 20), y.getShape());
                // Every stored byte is 0, q = -128 after the bias: y = -128 * (sum of the row's quantized x).
                float[] rows = x.toFloatArray();
                for (int r = 0; r < 2; r++) {
                    double sum = 0;
                    for (int i = 0; i < 40; i++) {
                        sum += rows[r * 40 + i];
                    }
                    assertEquals(-128 * sum, y.getFloat(r, 0), 0.01 * Math.abs(sum) + 0.05);
                }
            }
        }
    }

    @Test
    void groupedProjectSendsTheInt8LayoutToItsOperator() {
        assumeTrue(NativeInt4LinearTest.operatorRuns(), "Spillway's int8_linear does not run here: " + NativeOperators.registration());
        float[][] x = new float[2][64];
        x[1][7] = 1;
        int[] calls = new int[1];
        try (NDManager m = NDManager.newBaseManager()) {
            Int8Quantizer.Int8Blocks q = Int8Quantizer.blocksOf32(m.ones(new Shape(16, 64)));
            ProfiledOps ops = ProfiledOps.of(() -> calls[0] = run(m, x, q).length);
            assertEquals(2, calls[0]);
            assertEquals(1, ops.kernels().getOrDefault(NATIVE, 0), "grouped_project on the int8 layout calls " + NATIVE + ": " + ops.kernels());
            assertFalse(ops.kernels().containsKey("spillway::int4_linear"), ops.kernels().toString());
            q.close();
        }
    }

    /** x through grouped_project with the quantized projection packed by the script's spillway_int8_layout. */
    private static float[][] run(NDManager m, float[][] x, Int8Quantizer.Int8Blocks q) {
        try (NDManager scope = m.newSubManager();
             TorchScriptModule probe = TorchScriptModule.compile(scope, "Int8Probe", DecoderScript.source(true) + PROBE);
             IValue out = probe.forward(IValue.from((PtNDArray) scope.create(x)), IValue.from((PtNDArray) q.values()),
                     IValue.from((PtNDArray) q.scales()))) {
            NDArray y = out.toTensor((PtNDManager) scope);
            int outputs = (int) q.values().getShape().get(0);
            assertEquals(new Shape(x.length, outputs), y.getShape());
            float[] flat = y.toFloatArray();
            float[][] rows = new float[x.length][outputs];
            for (int r = 0; r < x.length; r++) {
                System.arraycopy(flat, r * outputs, rows[r], 0, outputs);
            }
            return rows;
        }
    }
}
