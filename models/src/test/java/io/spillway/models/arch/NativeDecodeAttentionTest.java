package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import com.sun.jna.Platform;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.runtime.TorchRuntime;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Spillway's native decode attention ({@code spillway::decode_attention}) against the libtorch ops
 * it stands in for: the script's own {@code attend_group}, native and not, over the same cache,
 * queries, context rows and mask. Which of the two ran is read from libtorch's profiler, so that a
 * script that stopped calling the operator fails here rather than comparing libtorch with itself.
 */
class NativeDecodeAttentionTest {

    /** attend_group for one-query sequences, the queries a narrowed view as the decoder's are. */
    private static final String PROBE = """


            class DecodeProbe(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.DecodeProbe, cache: Tensor, qk: Tensor, context_slots: Tensor, mask: Tensor, kv_heads: int,
                          group: int, native: bool) -> Tensor:
                b = context_slots.size(0)
                length = context_slots.size(1)
                head_dim = qk.size(2)
                q = qk.narrow(1, 0, kv_heads * group)
                if native:
                  return __torch__.native_decode_attention(cache, q, context_slots.view([-1]), mask, group)
                rows = __torch__.context_rows(context_slots, b, length, kv_heads)
                none = context_slots[0:0]
                return __torch__.attend_group(cache, q, rows, none, none, mask, b, 1, length, 0, b, kv_heads, group, head_dim)

            """;

    private static final String NATIVE = "spillway::decode_attention";

    enum Masking {
        /** Every key visible: the mask is empty, as GatherAttention sends it for equal contexts. */
        NONE,
        /** Each sequence sees a different prefix of the gathered context. */
        RAGGED,
        /** Each sequence sees only its last 17 positions (a sliding window). */
        WINDOW
    }

    /**
     * Sequences, KV heads, group, head width, context, masking. The work decides whether the
     * operator runs on one thread or spreads it over libtorch's (from 2^16 multiply-adds), and with
     * fewer sequences than twice the threads it splits each context into chunks of 64 positions or
     * more, merged at the end; a context past 4,096 positions is split too. Each way is here, on
     * two threads or more: shares that split evenly over the threads and shares that do not, a
     * last chunk shorter than the others, and a chunk that the window masks whole.
     */
    static List<Arguments> groups() {
        return List.of(
                Arguments.of(1, 3, 3, 64, 1, Masking.NONE),
                Arguments.of(1, 3, 3, 64, 600, Masking.NONE),
                Arguments.of(1, 1, 4, 16, 50, Masking.NONE),
                Arguments.of(5, 2, 1, 32, 40, Masking.RAGGED),
                Arguments.of(16, 3, 3, 64, 300, Masking.RAGGED),
                Arguments.of(4, 2, 3, 64, 200, Masking.WINDOW),
                Arguments.of(3, 1, 8, 64, 400, Masking.RAGGED),
                Arguments.of(2, 2, 2, 32, 700, Masking.WINDOW),
                Arguments.of(5, 2, 3, 64, 201, Masking.WINDOW),
                Arguments.of(1, 3, 3, 64, 601, Masking.RAGGED),
                Arguments.of(4, 1, 1, 8, 9000, Masking.RAGGED));
    }

    @Test
    void theOperatorsAreRegisteredOnLinuxX8664() {
        NativeOperators.Registration registration = NativeOperators.registration();
        if (Platform.isLinux() && Platform.isIntel() && Platform.is64Bit()) {
            NativeOperators.Registration.Registered registered = assertInstanceOf(NativeOperators.Registration.Registered.class,
                    registration, "the build compiles them for this platform: " + registration);
            assertTrue(registered.parallel(), "DJL's libtorch links libgomp, whose threads the operators share");
        } else {
            assertInstanceOf(NativeOperators.Registration.Unavailable.class, registration);
        }
    }

    @ParameterizedTest(name = "{0} sequences, {1} KV heads of {2}, width {3}, context {4}, mask {5}")
    @MethodSource("groups")
    void attendsAsLibtorchsOpsDo(int b, int kvHeads, int group, int headDim, int length, Masking masking) {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule probe = TorchScriptModule.compile(m, "DecodeProbe", DecoderScript.source(true) + PROBE)) {
            Random random = new Random(b * 1000L + length);
            int slots = b * length + 7;
            NDArray cache = normal(m, random, new Shape(slots, 2, kvHeads, headDim));
            NDArray qk = normal(m, random, new Shape(b, kvHeads * group + kvHeads, headDim));
            List<Long> shuffled = new ArrayList<>();
            for (long slot = 0; slot < slots; slot++) {
                shuffled.add(slot);
            }
            Collections.shuffle(shuffled, random);
            NDArray contextSlots = m.create(shuffled.subList(0, b * length).stream().mapToLong(Long::longValue).toArray(), new Shape(b, length));
            NDArray mask = mask(m, b, length, masking);

            float[] expected = attend(probe, cache, qk, contextSlots, mask, kvHeads, group, false, m);
            float[] actual = attend(probe, cache, qk, contextSlots, mask, kvHeads, group, true, m);
            assertEquals(expected.length, actual.length);
            float worst = 0;
            for (int i = 0; i < expected.length; i++) {
                assertTrue(Float.isFinite(actual[i]), "output " + i + " is " + actual[i]);
                worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
            }
            // Outputs reach about 3 here; float32 sums over up to 9,000 keys, in another order than libtorch's.
            assertTrue(worst <= 1e-5f, "largest difference from libtorch's ops " + worst);

            assertEquals(0, kernels(probe, cache, qk, contextSlots, mask, kvHeads, group, false, m).getOrDefault(NATIVE, 0));
            assertEquals(1, kernels(probe, cache, qk, contextSlots, mask, kvHeads, group, true, m).getOrDefault(NATIVE, 0),
                    "a native group attends through " + NATIVE);
        }
    }

    @Test
    void theCpuDefaultIsNativeInFloat32WhereRegistered() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        assertEquals(AttentionChoice.GATHER_NATIVE, AttentionChoice.forTarget(ComputeTarget.cpuFloat32()));
        assertEquals(AttentionChoice.GATHER, AttentionChoice.forTarget(new ComputeTarget(Device.cpu(), DataType.BFLOAT16)));
        assertEquals(AttentionChoice.BLOCKS_SDPA, AttentionChoice.forTarget(new ComputeTarget(Device.gpu(), DataType.FLOAT32)));
        ModelConfig config = ModelConfig.parse(ConfigJson.llama(64, 128, 1, 4, 2, 100, 64, true));
        try (NDManager m = NDManager.newBaseManager()) {
            PagedKvCache bf16 = PagedKvCache.allocate(KvCacheSpec.ofBlocks(config, 16, DataType.BFLOAT16, 2), Device.cpu(), m);
            IllegalStateException refused = assertThrows(IllegalStateException.class, () -> GatherAttention.withNativeDecodes(bf16, config));
            assertTrue(refused.getMessage().contains("attends a float32 cache on the CPU"), refused.getMessage());
        }
    }

    @Test
    void theScriptCompilesWithoutTheOperators() {
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             TorchScriptModule decoder = DecoderScript.compile(m, DecoderScript.Root.DECODER, DecoderScript.source(false))) {
            assertFalse(DecoderScript.source(false).contains("ops.spillway"), "the stand-in names no native operator");
        }
    }

    @Test
    void badArgumentsAreAnErrorAndTheNextCallStillWorks() {
        assumeTrue(NativeOperators.registered(), "not registered here: " + NativeOperators.registration());
        TorchRuntime.engine();
        try (NDManager m = NDManager.newBaseManager();
             OperatorProbe probe = new OperatorProbe(m, "decode_attention", "cache: Tensor, q: Tensor, context_slots: Tensor, mask: Tensor, group: int",
                     "cache, q, context_slots, mask, group")) {
            int kvHeads = 2;
            int group = 2;
            int headDim = 8;
            int length = 5;
            NDArray cache = m.randomNormal(0, 1, new Shape(10, 2, kvHeads, headDim), DataType.FLOAT32);
            NDArray q = m.randomNormal(0, 1, new Shape(1, kvHeads * group, headDim), DataType.FLOAT32);
            long[] slots = {3, 1, 4, 1, 5};
            NDArray noMask = m.create(new float[0]);

            probe.assertRefused("must be float32", cache.toType(DataType.FLOAT64, false), q, m.create(slots), noMask, group);
            probe.assertRefused("the cache must be [slots, 2, kvHeads, headDim]", cache.reshape(20, kvHeads, headDim), q, m.create(slots),
                    noMask, group);
            long[] outside = slots.clone();
            outside[3] = 10;
            probe.assertRefused("a context slot lies outside the cache", cache, q, m.create(outside), noMask, group);
            probe.assertRefused("context_slots is not [b * length]", cache, q, m.create(new long[0]), noMask, group);
            probe.assertRefused("the mask must be", cache, q, m.create(slots), m.zeros(new Shape(1, 1, 1, length + 1)), group);
            probe.assertRefused("q must be", cache, q, m.create(slots), noMask, group + 1);

            try (IValue out = probe.call(cache, q, m.create(slots), noMask, group)) {
                assertEquals(new Shape(1, kvHeads * group * headDim), out.toTensor((PtNDManager) m).getShape());
            }
        }
    }

    private static float[] attend(TorchScriptModule probe, NDArray cache, NDArray qk, NDArray contextSlots, NDArray mask, int kvHeads,
                                  int group, boolean nativeOperator, NDManager m) {
        try (IValue out = probe.forward(IValue.from((PtNDArray) cache), IValue.from((PtNDArray) qk), IValue.from((PtNDArray) contextSlots),
                IValue.from((PtNDArray) mask), IValue.from((long) kvHeads), IValue.from((long) group), IValue.from(nativeOperator))) {
            return out.toTensor((PtNDManager) m).toFloatArray();
        }
    }

    private static Map<String, Integer> kernels(TorchScriptModule probe, NDArray cache, NDArray qk, NDArray contextSlots, NDArray mask,
                                                int kvHeads, int group, boolean nativeOperator, NDManager m) {
        return ProfiledOps.of(() -> attend(probe, cache, qk, contextSlots, mask, kvHeads, group, nativeOperator, m)).kernels();
    }

    private static NDArray normal(NDManager m, Random random, Shape shape) {
        float[] values = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return m.create(values, shape);
    }

    private static NDArray mask(NDManager m, int b, int length, Masking masking) {
        if (masking == Masking.NONE) {
            return m.create(new float[0]);
        }
        float[] mask = new float[b * length];
        for (int s = 0; s < b; s++) {
            int visibleFrom = masking == Masking.WINDOW ? Math.max(0, length - 17) : 0;
            int visibleTo = masking == Masking.RAGGED ? length - (s * 7) % length : length;
            for (int j = 0; j < length; j++) {
                mask[s * length + j] = j >= visibleFrom && j < visibleTo ? 0 : Float.NEGATIVE_INFINITY;
            }
        }
        return m.create(mask, new Shape(b, 1, 1, length));
    }
}
