package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.junit.jupiter.api.Test;

/**
 * Spillway's native SwiGLU ({@code spillway::swiglu}) against the script's libtorch ops for it
 * ({@code swiglu_ops}: silu of the gates times the ups), over the whole range a float32 gate can
 * take, rows and columns dense or strided: to float32's rounding where the result is normal, the
 * same infinities and NaN where libtorch gives them.
 */
class NativeSwiGluTest {

    private static final String PROBE = """


            class GluProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.GluProbe, gate_up: Tensor, native: bool) -> Tensor:
                if native:
                  return __torch__.swiglu(gate_up)
                return __torch__.swiglu_ops(gate_up)
            """;

    private static final String NATIVE = "spillway::swiglu";

    @Test
    void gatesAsLibtorchsOpsDo() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "GluProbe", DecoderScript.source(true) + PROBE);
             TorchScriptModule without = TorchScriptModule.compile(m, "GluProbe", DecoderScript.source(false) + PROBE)) {
            int tokens = 5;
            int intermediate = 1536;
            // Gates from -120 to 120 (past where e^-g overflows float32 either way), ups of either sign; rows of a wider tensor.
            NDArray gates = m.linspace(-120f, 120f, tokens * intermediate).reshape(tokens, intermediate);
            NDArray ups = m.randomNormal(0, 2, new Shape(tokens, intermediate), DataType.FLOAT32);
            NDArray wide = gates.concat(ups, 1).concat(m.zeros(new Shape(tokens, 8)), 1);
            NDArray gateUp = wide.get(":, 0:" + 2 * intermediate);
            float[] expected = run(probe, gateUp, false, m);
            float[] actual = run(probe, gateUp, true, m);
            // Where the operators are not registered the script's swiglu is libtorch's ops, to the bit.
            assertArrayEquals(expected, run(without, gateUp, true, m));
            assertEquals(expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                // Down to float32's smallest normal: below it libtorch's results are subnormal, this operator's 0.
                assertEquals(expected[i], actual[i], 1e-6 * Math.abs(expected[i]) + Float.MIN_NORMAL, "element " + i);
            }
            assertArrayEquals(new int[] {0, 1}, new int[] {
                ProfiledOps.of(() -> run(without, gateUp, true, m)).kernels().getOrDefault(NATIVE, 0),
                ProfiledOps.of(() -> run(probe, gateUp, true, m)).kernels().getOrDefault(NATIVE, 0)});

            // Columns that lie apart, as the batched row blocks return 16 or 32 rows.
            NDArray columns = m.randomNormal(0, 3, new Shape(2 * 64, 16), DataType.FLOAT32).transpose();
            float[] expectedColumns = run(probe, columns, false, m);
            float[] actualColumns = run(probe, columns, true, m);
            for (int i = 0; i < expectedColumns.length; i++) {
                assertEquals(expectedColumns[i], actualColumns[i], 1e-6 * Math.abs(expectedColumns[i]) + Float.MIN_NORMAL, "strided column " + i);
            }
        }
    }

    @Test
    void infinitiesAndNanAsLibtorchsOpsGiveThem() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "GluProbe", DecoderScript.source(true) + PROBE)) {
            float[] gates = {Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 3, 0, -0f};
            float[] ups = {2, 2, 2, Float.NaN, Float.POSITIVE_INFINITY, 1};
            float[] row = new float[12];
            System.arraycopy(gates, 0, row, 0, 6);
            System.arraycopy(ups, 0, row, 6, 6);
            NDArray gateUp = m.create(row, new Shape(1, 12));
            float[] expected = run(probe, gateUp, false, m);
            float[] actual = run(probe, gateUp, true, m);
            for (int i = 0; i < 6; i++) {
                assertEquals(Float.isNaN(expected[i]), Float.isNaN(actual[i]), "element " + i + ": " + expected[i] + " against " + actual[i]);
                if (!Float.isNaN(expected[i])) {
                    assertEquals(expected[i], actual[i], "element " + i);
                }
            }
        }
    }

    @Test
    void badArgumentsAreAnErrorAndTheNextCallStillWorks() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager(); OperatorProbe probe = new OperatorProbe(m, "swiglu", "gate_up: Tensor", "gate_up")) {
            for (NDArray bad : new NDArray[] {m.ones(new Shape(2, 7)), m.ones(new Shape(2, 3, 4)), m.ones(new Shape(2, 4), DataType.FLOAT64)}) {
                probe.assertRefused("gate_up must be float32 [tokens, 2 * intermediate]", bad);
            }
            try (IValue out = probe.call(m.ones(new Shape(2, 4)))) {
                assertEquals(new Shape(2, 2), out.toTensor((PtNDManager) m).getShape());
            }
        }
    }

    private static float[] run(TorchScriptModule probe, NDArray gateUp, boolean nativeOperator, NDManager m) {
        try (IValue out = probe.forward(IValue.from((PtNDArray) gateUp), IValue.from(nativeOperator))) {
            return out.toTensor((PtNDManager) m).toFloatArray();
        }
    }
}
