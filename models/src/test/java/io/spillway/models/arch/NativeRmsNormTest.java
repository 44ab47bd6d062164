package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Spillway's native RMSNorm ({@code spillway::rms_norm}), through the decoder script's own
 * {@code rms_norm}, against libtorch's {@code torch.rms_norm} (and, for a weight per head, the
 * product the script took before): the same values to float32's rounding, NaN where libtorch's
 * gives NaN. Which of the two ran is read from libtorch's profiler.
 */
class NativeRmsNormTest {

    private static final String PROBE = """


            class NormProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.NormProbe, x: Tensor, weight: Tensor, eps: float, native: bool) -> Tensor:
                if native:
                  return __torch__.rms_norm(x, weight, eps)
                if weight.dim() == 1 and weight.numel() > 0:
                  return torch.rms_norm(x, [x.size(-1)], weight, eps)
                normed = torch.rms_norm(x, [x.size(-1)], None, eps)
                if weight.numel() > 0:
                  normed = normed * weight
                return normed

            """;

    private static final String NATIVE = "spillway::rms_norm";

    /** x's shape, the weight's (empty: none), eps. An eps of 1 on inputs of order 0.1 shows whether eps arrives at all. */
    static List<Arguments> shapes() {
        return List.of(
                Arguments.of(new Shape(1, 576), new Shape(576), 1e-5),
                Arguments.of(new Shape(5, 64), new Shape(0), 1e-6),
                Arguments.of(new Shape(3, 12, 64), new Shape(12, 64), 1e-6),
                Arguments.of(new Shape(7, 1536), new Shape(1536), 1.0),
                Arguments.of(new Shape(2, 3), new Shape(3), 0.0));
    }

    @ParameterizedTest(name = "x {0}, weight {1}, eps {2}")
    @MethodSource("shapes")
    void normalizesAsLibtorchDoes(Shape shape, Shape weightShape, double eps) {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "NormProbe", DecoderScript.source(true) + PROBE)) {
            NDArray x = m.randomNormal(0, 0.1f, shape, DataType.FLOAT32);
            NDArray weight = weightShape.size() == 0 ? m.create(new float[0]) : m.randomUniform(0.5f, 2f, weightShape);
            float[] expected = normalize(probe, x, weight, eps, false, m);
            float[] actual = normalize(probe, x, weight, eps, true, m);
            assertEquals(expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], actual[i], 2e-6 * Math.abs(expected[i]) + 1e-7, "element " + i);
            }
            assertEquals(1, kernels(probe, x, weight, eps, true, m).getOrDefault(NATIVE, 0), "a float32 rms_norm runs " + NATIVE);

            // Where the operators are not registered the script's rms_norm is libtorch's, to the bit.
            try (TorchScriptModule without = TorchScriptModule.compile(m, "NormProbe", DecoderScript.source(false) + PROBE)) {
                assertArrayEquals(expected, normalize(without, x, weight, eps, true, m));
                assertEquals(0, kernels(without, x, weight, eps, true, m).getOrDefault(NATIVE, 0));
            }
        }
    }

    /**
     * A view whose rows lie apart (a narrowed qkv, as the decoder's q/k norm may meet it), or whose
     * columns do (the batched row blocks' output at 16 or 32 rows), is read where it lies.
     */
    @Test
    void normalizesTheRowsOfAView() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "NormProbe", DecoderScript.source(true) + PROBE)) {
            NDArray qkv = m.randomNormal(0, 1, new Shape(3, 5, 16), DataType.FLOAT32);
            NDArray qk = qkv.get(":, 1:4, :");
            NDArray weight = m.randomUniform(0.5f, 2f, new Shape(3, 16));
            float[] expected = normalize(probe, qk.duplicate(), weight, 1e-6, false, m);
            float[] actual = normalize(probe, qk, weight, 1e-6, true, m);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], actual[i], 2e-6 * Math.abs(expected[i]) + 1e-7, "element " + i);
            }
            NDArray columns = m.randomNormal(0, 1, new Shape(16, 4), DataType.FLOAT32).transpose();
            NDArray rowWeight = m.randomUniform(0.5f, 2f, new Shape(16));
            float[] expectedColumns = normalize(probe, columns.duplicate(), rowWeight, 1e-6, false, m);
            float[] actualColumns = normalize(probe, columns, rowWeight, 1e-6, true, m);
            for (int i = 0; i < expectedColumns.length; i++) {
                assertEquals(expectedColumns[i], actualColumns[i], 2e-6 * Math.abs(expectedColumns[i]) + 1e-7, "strided column " + i);
            }
        }
    }

    @Test
    void aNanMakesItsRowNanAsLibtorchsDoes() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "NormProbe", DecoderScript.source(true) + PROBE)) {
            float[] values = {1, 2, Float.NaN, 4, 1, 2, 3, 4};
            NDArray x = m.create(values, new Shape(2, 4));
            float[] actual = normalize(probe, x, m.create(new float[0]), 1e-6, true, m);
            float[] expected = normalize(probe, x, m.create(new float[0]), 1e-6, false, m);
            for (int i = 0; i < 8; i++) {
                assertEquals(Float.isNaN(expected[i]), Float.isNaN(actual[i]), "element " + i);
            }
            assertTrue(Float.isNaN(actual[0]) && Float.isFinite(actual[4]));
        }
    }

    /** Any dtype but float32 keeps libtorch's norm; float16 stands for bfloat16 here, which DJL cannot make. */
    @Test
    void aSixteenBitRowKeepsLibtorchsNorm() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "NormProbe", DecoderScript.source(true) + PROBE)) {
            NDArray x = m.randomNormal(0, 1, new Shape(2, 64), DataType.FLOAT32).toType(DataType.FLOAT16, false);
            Map<String, Integer> kernels = kernels(probe, x, m.create(new float[0]).toType(DataType.FLOAT16, false), 1e-6, true, m);
            assertFalse(kernels.containsKey(NATIVE), kernels.toString());
        }
    }

    @Test
    void badArgumentsAreAnErrorAndTheNextCallStillWorks() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             OperatorProbe probe = new OperatorProbe(m, "rms_norm", "x: Tensor, weight: Tensor", "x, weight, 1e-6")) {
            NDArray x = m.randomNormal(0, 1, new Shape(3, 8), DataType.FLOAT32);
            NDArray weight = m.ones(new Shape(8));
            probe.assertRefused("x must be float32", x.toType(DataType.FLOAT64, false), weight);
            probe.assertRefused("the weight must be a dense float32 of x's trailing shape", x, m.ones(new Shape(7)));
            probe.assertRefused("the weight must be a dense float32 of x's trailing shape", x, m.ones(new Shape(2, 8)));
            try (IValue out = probe.call(x, weight)) {
                assertEquals(new Shape(3, 8), out.toTensor((PtNDManager) m).getShape());
            }
        }
    }

    private static float[] normalize(TorchScriptModule probe, NDArray x, NDArray weight, double eps, boolean nativeNorm, NDManager m) {
        try (IValue out = probe.forward(IValue.from((PtNDArray) x), IValue.from((PtNDArray) weight), IValue.from(eps),
                IValue.from(nativeNorm))) {
            return out.toTensor((PtNDManager) m).toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    private static Map<String, Integer> kernels(TorchScriptModule probe, NDArray x, NDArray weight, double eps, boolean nativeNorm,
                                                NDManager m) {
        return ProfiledOps.of(() -> normalize(probe, x, weight, eps, nativeNorm, m)).kernels();
    }
}
