package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Spillway's native RoPE and cache write ({@code spillway::rotate_and_store}) against the script's
 * libtorch ops for the same step ({@code rotate_and_store_ops}, compiled without the native
 * operators, so that its q/k norms are libtorch's too): the same queries returned and the
 * same keys and values in the cache, at the same slots, to float32's rounding; nothing else in the
 * cache touched.
 */
class NativeRotateAndStoreTest {

    private static final String PROBE = """


            class RopeProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.RopeProbe, qkv: Tensor, cos: Tensor, sin: Tensor, qk_norm: Tensor, cache: Tensor,
                          write_slots: Tensor, heads: int, native: bool) -> Tensor:
                kv_heads = cache.size(2)
                head_dim = cache.size(3)
                if native:
                  return __torch__.rotate_and_store(qkv, cos, sin, qk_norm, 1e-6, cache, write_slots, heads, kv_heads, head_dim)
                return __torch__.rotate_and_store_ops(qkv, cos, sin, qk_norm, 1e-6, cache, write_slots, heads, kv_heads, head_dim)

            """;

    private static final String NATIVE = "spillway::rotate_and_store";

    enum Layout {
        DENSE,
        /** Rows a view of a wider tensor. */
        ROWS_APART,
        /** Columns apart: a transposed [width, tokens], as the batched row blocks return 16 or 32 rows. */
        COLUMNS_APART
    }

    /** Tokens, heads, KV heads, head width, q/k norms, how qkv lies. */
    static List<Arguments> shapes() {
        return List.of(
                Arguments.of(1, 9, 3, 64, false, Layout.DENSE),
                Arguments.of(5, 4, 2, 32, false, Layout.DENSE),
                Arguments.of(3, 8, 1, 64, true, Layout.DENSE),
                Arguments.of(7, 2, 2, 16, true, Layout.ROWS_APART),
                Arguments.of(1, 4, 4, 128, false, Layout.ROWS_APART),
                Arguments.of(16, 9, 3, 64, true, Layout.COLUMNS_APART));
    }

    @ParameterizedTest(name = "{0} tokens, {1} heads, {2} KV heads of {3}, q/k norms {4}, qkv {5}")
    @MethodSource("shapes")
    void rotatesAndStoresAsLibtorchsOpsDo(int tokens, int heads, int kvHeads, int headDim, boolean qkNorm, Layout layout) {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "RopeProbe", DecoderScript.source(true) + PROBE);
             TorchScriptModule libtorchOnly = TorchScriptModule.compile(m, "RopeProbe", DecoderScript.source(false) + PROBE)) {
            Random random = new Random(tokens * 100L + heads * 10L + headDim);
            int width = (heads + 2 * kvHeads) * headDim;
            NDArray qkv = switch (layout) {
                case DENSE -> m.randomNormal(0, 1, new Shape(tokens, width), DataType.FLOAT32);
                case ROWS_APART -> m.randomNormal(0, 1, new Shape(tokens, width + 24), DataType.FLOAT32).get(":, 8:" + (8 + width));
                case COLUMNS_APART -> m.randomNormal(0, 1, new Shape(width, tokens), DataType.FLOAT32).transpose();
            };
            NDArray angles = m.randomUniform(0, 6.3f, new Shape(tokens, 1, headDim / 2));
            NDArray cos = angles.cos().concat(angles.cos(), 2);
            NDArray sin = angles.sin().neg().concat(angles.sin(), 2);
            NDArray norm = qkNorm ? m.randomUniform(0.5f, 2f, new Shape(heads + kvHeads, headDim)) : m.create(new float[0]);
            int slots = tokens + 11;
            List<Long> shuffled = new ArrayList<>();
            for (long s = 0; s < slots; s++) {
                shuffled.add(s);
            }
            Collections.shuffle(shuffled, random);
            NDArray writeSlots = m.create(shuffled.subList(0, tokens).stream().mapToLong(Long::longValue).toArray());
            NDArray initial = m.randomNormal(0, 1, new Shape(slots, 2, kvHeads, headDim), DataType.FLOAT32);

            NDArray expectedCache = initial.duplicate();
            NDArray actualCache = initial.duplicate();
            // The script's own rotate_and_store where the operators are not registered: libtorch's ops.
            NDList expected = run(libtorchOnly, qkv, cos, sin, norm, expectedCache, writeSlots, heads, true, m);
            NDList actual = run(probe, qkv, cos, sin, norm, actualCache, writeSlots, heads, true, m);
            assertEquals(new Shape(tokens, heads, headDim), actual.get(0).getShape());
            assertClose(expected.get(0).toFloatArray(), actual.get(0).toFloatArray(), "queries");
            assertClose(expectedCache.toFloatArray(), actualCache.toFloatArray(), "cache");
            float[] before = initial.toFloatArray();
            float[] after = actualCache.toFloatArray();
            int changed = 0;
            for (int i = 0; i < before.length; i++) {
                changed += before[i] != after[i] ? 1 : 0;
            }
            assertEquals((long) tokens * 2 * kvHeads * headDim, changed, "exactly the written slots' keys and values change");

            int[] calls = new int[2];
            calls[0] = ProfiledOps.of(() -> run(probe, qkv, cos, sin, norm, initial.duplicate(), writeSlots, heads, true, m)).kernels()
                    .getOrDefault(NATIVE, 0);
            calls[1] = ProfiledOps.of(() -> run(libtorchOnly, qkv, cos, sin, norm, initial.duplicate(), writeSlots, heads, true, m))
                    .kernels().getOrDefault(NATIVE, 0);
            assertArrayEquals(new int[] {1, 0}, calls, "the float32 CPU path runs " + NATIVE + ", the script without the operators does not");
        }
    }

    @Test
    void badArgumentsAreAnErrorAndTheNextCallStillWorks() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             OperatorProbe probe = new OperatorProbe(m, "rotate_and_store", "qkv: Tensor, cos: Tensor, sin: Tensor, qk_norm: Tensor, cache: Tensor,"
                     + " write_slots: Tensor, heads: int", "qkv, cos, sin, qk_norm, 1e-6, cache, write_slots, heads")) {
            NDArray qkv = m.randomNormal(0, 1, new Shape(2, 4 * 8), DataType.FLOAT32);
            NDArray cos = m.ones(new Shape(2, 1, 8));
            NDArray sin = m.zeros(new Shape(2, 1, 8));
            NDArray none = m.create(new float[0]);
            NDArray cache = m.zeros(new Shape(5, 2, 1, 8));
            NDArray slots = m.create(new long[] {3, 1});
            probe.assertRefused("the cache must be", qkv, cos, sin, none, cache.toType(DataType.FLOAT64, false), slots, 2);
            probe.assertRefused("qkv must be float32 [tokens, (heads + 2 * kvHeads) * headDim]", qkv, cos, sin, none, cache, slots, 3);
            probe.assertRefused("heads must be positive", qkv, cos, sin, none, cache, slots, 0);
            probe.assertRefused("cos and sin must be", qkv, m.ones(new Shape(2, 1, 4)), sin, none, cache, slots, 2);
            probe.assertRefused("qk_norm must be", qkv, cos, sin, m.ones(new Shape(2, 8)), cache, slots, 2);
            probe.assertRefused("a write slot lies outside the cache", qkv, cos, sin, none, cache, m.create(new long[] {3, 5}), 2);
            probe.assertRefused("write_slots must be", qkv, cos, sin, none, cache, m.create(new long[] {3}), 2);
            float[] untouched = cache.toFloatArray();
            for (float v : untouched) {
                assertEquals(0f, v, "a refused call writes nothing");
            }
            try (IValue out = probe.call(qkv, cos, sin, none, cache, slots, 2)) {
                assertEquals(new Shape(2, 2, 8), out.toTensor((PtNDManager) m).getShape());
            }
        }
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 2e-6 * Math.abs(expected[i]) + 2e-6, what + " " + i);
        }
    }

    private static NDList run(TorchScriptModule probe, NDArray qkv, NDArray cos, NDArray sin, NDArray norm, NDArray cache, NDArray slots,
                              int heads, boolean nativeOperator, NDManager m) {
        try (IValue out = probe.forward(IValue.from((PtNDArray) qkv), IValue.from((PtNDArray) cos), IValue.from((PtNDArray) sin),
                IValue.from((PtNDArray) norm), IValue.from((PtNDArray) cache), IValue.from((PtNDArray) slots), IValue.from((long) heads),
                IValue.from(nativeOperator))) {
            return new NDList(out.toTensor((PtNDManager) m).duplicate());
        }
    }
}
