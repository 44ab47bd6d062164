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
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import com.sun.jna.Platform;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Spillway's native int4 projection ({@code spillway::int4_linear}), through the decoder script's own
 * packing ({@code spillway_int4_layout}) and dispatch ({@code grouped_project}), against two references
 * computed here: the same arithmetic with the activations quantized as the operator specifies
 * (per 32 inputs an int8 and an int8 of what it left, on a 254 times finer step), which it must
 * match to float32's summation error, and the dequantized weight times the exact activations,
 * which it must match within the bound that quantization implies.
 */
class NativeInt4LinearTest {

    private static final String PROBE = """


            class Int4Probe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Int4Probe, x: Tensor, values: Tensor, scales: Tensor, zeros: Tensor) -> Tensor:
                weight, scale_offsets, readable = __torch__.spillway_int4_layout(values, scales, zeros)
                return __torch__.grouped_project(x, weight, scale_offsets, readable, x[0:0])

            """;

    private static final String NATIVE = "spillway::int4_linear";

    /** Whether {@code spillway::int4_linear} and {@code int8_linear} run in this process. */
    static boolean operatorRuns() {
        return NativeOperators.registration() instanceof NativeOperators.Registration.Registered registered && registered.integerKernels();
    }

    /** The CPU's flags as Linux lists them, read independently of the operator's own check. */
    private static List<String> cpuFlags() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("flags")) {
                return Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
            }
        }
        return List.of();
    }

    @Test
    void theOperatorRunsOnEveryCpuWithAvx512Vnni() throws IOException {
        assumeTrue(Platform.isLinux() && Platform.isIntel() && Platform.is64Bit(), "the operators are built for Linux x86-64");
        List<String> flags = cpuFlags();
        boolean vnni = flags.containsAll(List.of("avx512f", "avx512bw", "avx512_vnni"));
        assertEquals(vnni, operatorRuns(), "CPU flags " + flags + ", registration " + NativeOperators.registration());
        assertEquals(vnni ? QuantizedKernels.SPILLWAY : QuantizedKernels.LIBTORCH, QuantizedKernels.forTarget(ComputeTarget.cpuFloat32()));
        assertEquals(QuantizedKernels.LIBTORCH, QuantizedKernels.forTarget(new ComputeTarget(ai.djl.Device.cpu(), DataType.BFLOAT16)));
        assertEquals(QuantizedKernels.LIBTORCH, QuantizedKernels.forTarget(new ComputeTarget(ai.djl.Device.gpu(), DataType.FLOAT32)));
    }

    @Test
    void spillwaysLayoutIsRefusedWhereItsOperatorCannotRun() {
        for (ComputeTarget target : List.of(new ComputeTarget(ai.djl.Device.gpu(), DataType.FLOAT32),
                new ComputeTarget(ai.djl.Device.cpu(), DataType.BFLOAT16))) {
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> new WeightLoader(null, null, target, ProjectionLayout.LINEAR, Quantization.NONE, QuantizedKernels.SPILLWAY));
            assertTrue(refused.getMessage().contains("quantized kernels SPILLWAY are for a float32 model on a CPU"), refused.getMessage());
        }
    }

    /** Rows, inputs, outputs, group: one row and more, row tiles of 4 and each remainder after them, one output block and many. */
    static List<Arguments> shapes() {
        return List.of(
                Arguments.of(1, 64, 16, 32),
                Arguments.of(2, 64, 32, 32),
                Arguments.of(1, 576, 960, 64),
                Arguments.of(3, 1536, 48, 128),
                Arguments.of(4, 512, 32, 256),
                Arguments.of(5, 96, 16, 32),
                Arguments.of(6, 256, 48, 64),
                Arguments.of(7, 192, 32, 32),
                Arguments.of(9, 576, 3072, 64),
                Arguments.of(200, 128, 80, 32));
    }

    @ParameterizedTest(name = "{0} rows, {1} inputs, {2} outputs, groups of {3}")
    @MethodSource("shapes")
    void multipliesAsTheQuantizedActivationsSpecify(int rows, int inputs, int outputs, int group) {
        assumeTrue(operatorRuns(), "spillway::int4_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        Random random = new Random(rows * 7919L + inputs * 31L + outputs);
        int groups = inputs / group;
        int[][] values = new int[outputs][inputs];
        for (int[] row : values) {
            for (int i = 0; i < inputs; i++) {
                row[i] = random.nextInt(16);
            }
        }
        float[][] scales = new float[groups][outputs];
        float[][] zeros = new float[groups][outputs];
        for (int g = 0; g < groups; g++) {
            for (int o = 0; o < outputs; o++) {
                scales[g][o] = 0.01f + 0.04f * random.nextFloat();
                zeros[g][o] = 5 + random.nextInt(6);
            }
        }
        // Rows of different ranges, and a large input here and there, so that blocks quantize on different scales.
        float[][] x = new float[rows][inputs];
        for (int r = 0; r < rows; r++) {
            double range = 0.1 + 3 * random.nextDouble();
            for (int i = 0; i < inputs; i++) {
                x[r][i] = (float) (random.nextGaussian() * range * (random.nextInt(50) == 0 ? 8 : 1));
            }
        }
        float[][] y = run(x, values, scales, zeros);

        for (int r = 0; r < rows; r++) {
            float[] row = x[r];
            QuantizedActivations q = QuantizedActivations.of(row);
            for (int o = 0; o < outputs; o++) {
                double asSpecified = 0;
                double exact = 0;
                double magnitude = 0;
                double roundingBound = 0;
                for (int g = 0; g < groups; g++) {
                    float scale = scales[g][o];
                    float offset = -zeros[g][o] * scale;
                    double products = 0;
                    double sum = 0;
                    for (int i = g * group; i < (g + 1) * group; i++) {
                        double w = (double) values[o][i] * scale + offset;
                        products += (double) q.scale(i) * values[o][i] * q.value(i);
                        sum += row[i];
                        exact += w * row[i];
                        magnitude += Math.abs(w * row[i]) + Math.abs(offset * row[i]) + Math.abs(scale * values[o][i] * row[i]);
                        roundingBound += Math.abs(w) * q.scale(i) / QuantizedActivations.RESIDUAL_STEPS / 2;
                    }
                    asSpecified += scale * products + offset * sum;
                }
                double actual = y[r][o];
                // float32 accumulation in another order: a few units of 2^-24 of the terms' magnitudes.
                assertEquals(asSpecified, actual, 1e-6 * magnitude + 1e-6,
                        "row " + r + ", output " + o + ": the operator's arithmetic is not the specified quantization's");
                assertEquals(exact, actual, roundingBound + 1e-6 * magnitude + 1e-6,
                        "row " + r + ", output " + o + ": further from the exact product than int8 activations can be");
            }
        }
    }

    /** NaN where a float matmul gives NaN or an infinity: the operator does not tell them apart. */
    @Test
    void aNonFiniteInputMakesItsRowNan() {
        assumeTrue(operatorRuns(), "spillway::int4_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        int inputs = 64;
        int outputs = 32;
        Random random = new Random(5);
        int[][] values = new int[outputs][inputs];
        for (int[] row : values) {
            for (int i = 0; i < inputs; i++) {
                row[i] = random.nextInt(16);
            }
        }
        float[][] scales = new float[2][outputs];
        float[][] zeros = new float[2][outputs];
        for (int g = 0; g < 2; g++) {
            Arrays.fill(scales[g], 0.02f);
            Arrays.fill(zeros[g], 8);
        }
        float[][] x = new float[3][inputs];
        for (float[] row : x) {
            Arrays.fill(row, 0.5f);
        }
        x[0][40] = Float.NaN;
        x[2][3] = Float.POSITIVE_INFINITY;
        // Magnitudes so small that 127 over them overflows float32: they count as zeros.
        Arrays.fill(x[1], 0, 32, 1e-38f);
        float[][] y = run(x, values, scales, zeros);
        for (int o = 0; o < outputs; o++) {
            assertTrue(Float.isNaN(y[0][o]), "a NaN input: output " + o + " is " + y[0][o]);
            assertTrue(Float.isFinite(y[1][o]), "a finite row beside it: output " + o + " is " + y[1][o]);
            double expected = 0;
            for (int i = 32; i < inputs; i++) {
                expected += (values[o][i] - 8) * 0.02 * 0.5;
            }
            assertEquals(expected, y[1][o], 1e-3, "a row whose first block is vanishingly small: output " + o);
            assertTrue(Float.isNaN(y[2][o]), "an infinite input: output " + o + " is " + y[2][o]);
        }
    }

    @Test
    void badArgumentsAreAnErrorAndTheNextCallStillWorks() {
        assumeTrue(operatorRuns(), "spillway::int4_linear does not run here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             OperatorProbe probe = new OperatorProbe(m, "int4_linear", "x: Tensor, weight: Tensor, scale_offsets: Tensor", "x, weight, scale_offsets")) {
            NDArray x = m.randomNormal(0, 1, new Shape(2, 64), DataType.FLOAT32);
            NDArray weight = m.zeros(new Shape(2, 8, 16, 4), DataType.UINT8);
            NDArray scaleOffsets = m.ones(new Shape(2, 2, 32), DataType.FLOAT32);

            probe.assertRefused("x must be a dense float32 [rows, in]", x.toType(DataType.FLOAT64, false), weight, scaleOffsets);
            probe.assertRefused("x must be a dense float32 [rows, in]", x.transpose(), weight, scaleOffsets);
            probe.assertRefused("the weight must be a dense uint8", x, weight.toType(DataType.INT32, false), scaleOffsets);
            probe.assertRefused("the weight must be a dense uint8", x, m.zeros(new Shape(2, 4, 16, 4), DataType.UINT8), scaleOffsets);
            probe.assertRefused("scale_offsets must be", x, weight, m.ones(new Shape(2, 2, 16), DataType.FLOAT32));
            probe.assertRefused("the group size must be a multiple of 32", x, weight, m.ones(new Shape(2, 4, 32), DataType.FLOAT32));
            // No inputs would divide by a zero group size: the process would die of it.
            probe.assertRefused("x has no inputs", m.zeros(new Shape(2, 0), DataType.FLOAT32), m.zeros(new Shape(2, 0, 16, 4), DataType.UINT8),
                    m.ones(new Shape(2, 1, 32), DataType.FLOAT32));

            try (IValue out = probe.call(x, weight, scaleOffsets)) {
                assertEquals(new Shape(2, 32), out.toTensor((PtNDManager) m).getShape());
            }
        }
    }

    @Test
    void int4ProjectSendsSpillwaysLayoutToTheOperator() {
        assumeTrue(operatorRuns(), "spillway::int4_linear does not run here: " + NativeOperators.registration());
        float[][] x = new float[2][64];
        x[1][7] = 1;
        int[][] values = new int[16][64];
        float[][] ones = new float[2][16];
        for (float[] s : ones) {
            Arrays.fill(s, 1f);
        }
        int[] calls = new int[1];
        ProfiledOps ops = ProfiledOps.of(() -> calls[0] = run(x, values, ones, new float[2][16]).length);
        assertEquals(2, calls[0]);
        assertEquals(1, ops.kernels().getOrDefault(NATIVE, 0), "grouped_project on Spillway's layout calls " + NATIVE + ": " + ops.kernels());
        assertFalse(ops.kernels().containsKey("aten::_weight_int4pack_mm_for_cpu"), ops.kernels().toString());
    }

    /** x through grouped_project with the projection packed by the script's spillway_int4_layout. */
    private static float[][] run(float[][] x, int[][] values, float[][] scales, float[][] zeros) {
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "Int4Probe", DecoderScript.source(true) + PROBE)) {
            NDArray xs = m.create(x);
            NDArray v = m.create(values);
            try (IValue out = probe.forward(IValue.from((PtNDArray) xs), IValue.from((PtNDArray) v), IValue.from((PtNDArray) m.create(scales)),
                    IValue.from((PtNDArray) m.create(zeros)))) {
                NDArray y = out.toTensor((PtNDManager) m);
                assertEquals(new Shape(x.length, values.length), y.getShape());
                float[] flat = y.toFloatArray();
                float[][] rows = new float[x.length][values.length];
                for (int r = 0; r < x.length; r++) {
                    System.arraycopy(flat, r * values.length, rows[r], 0, values.length);
                }
                return rows;
            }
        }
    }
}
