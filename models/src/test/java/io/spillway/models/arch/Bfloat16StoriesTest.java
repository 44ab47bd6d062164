package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.FloatConversions;
import io.spillway.models.generate.GreedyGenerator;
import io.spillway.models.generate.TeacherForcing;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.Rows;
import io.spillway.models.testing.StoriesReference;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * stories260K, a real trained Llama, in bfloat16 on the CPU against its float32 run (which
 * reproduces the reference ids exactly). bfloat16 may legitimately pick differently where the
 * float32 top-2 margin is small, and every later id then differs; so the logits are compared
 * under teacher forcing (each position sees the reference's ids), and greedy agreement is reported.
 */
class Bfloat16StoriesTest {

    /**
     * Teacher-forced |Δlogit| against float32 over the reference's cases, every vocabulary entry:
     * measured 1.14 in bfloat16 where float16 measured
     * 0.147 (8 mantissa bits against 11: ~7x), 5 % of the largest logit (24.4); the bound leaves 1.3x.
     */
    private static final double TOLERANCE = 1.5;

    private static StoriesReference ref;
    private static LoadedModel float32;
    private static LoadedModel bf16;

    @BeforeAll
    static void load() {
        ref = StoriesReference.load();
        float32 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()));
        bf16 = LoadedModel.load(ModelLoadOptions.of(ref.directory(), new ComputeTarget(Device.cpu(), DataType.BFLOAT16)));
    }

    @AfterAll
    static void close() {
        // Unloaded when the shared data is missing outside CI (the class is skipped, not failed).
        if (float32 != null) {
            float32.close();
        }
        if (bf16 != null) {
            bf16.close();
        }
    }

    /**
     * Every teacher-forced logit within {@link #TOLERANCE} of float32's, and bfloat16's pick the
     * reference id wherever float32's top-2 margin exceeds twice that (there a pick cannot flip).
     */
    @Test
    void teacherForcedLogitsStayWithinToleranceOfFloat32() {
        double worst = 0;
        int positions = 0;
        int agreeing = 0;
        double widestFlipped = 0;
        double largest = 0;
        for (int c = 0; c < ref.prompts().size(); c++) {
            int[] expected = ref.expected().get(c);
            float[][] exact = TeacherForcing.logits(float32.model(), ref.prompts().get(c), expected);
            float[][] half = TeacherForcing.logits(bf16.model(), ref.prompts().get(c), expected);
            for (int t = 0; t < expected.length; t++) {
                for (int v = 0; v < exact[t].length; v++) {
                    worst = Math.max(worst, Math.abs(exact[t][v] - half[t][v]));
                    largest = Math.max(largest, Math.abs(exact[t][v]));
                }
                int pick = Rows.argmax(half[t]);
                positions++;
                agreeing += pick == expected[t] ? 1 : 0;
                if (pick != expected[t]) {
                    widestFlipped = Math.max(widestFlipped, Rows.topTwoMargin(exact[t]));
                }
            }
        }
        System.out.printf("stories260K bfloat16 teacher-forced: max |logit - float32| %.3g (largest |logit| %.3g), picks agreeing %d of %d,"
                + " widest float32 margin of a flipped pick %.3g%n", worst, largest, agreeing, positions, widestFlipped);
        assertTrue(worst < TOLERANCE, "max |logit - float32| = " + worst);
        assertTrue(widestFlipped <= 2 * TOLERANCE, "a pick flipped where float32's top-2 margin was " + widestFlipped);
    }

    /** Greedy decoding on its own ids: reported (a flip is legitimate), and the first id of each case must agree. */
    @Test
    void greedyIdsAgreeWithTheReferenceAtLeastUntilTheFirstCloseCall() {
        int total = 0;
        int prefix = 0;
        try (GreedyGenerator generator = new GreedyGenerator(bf16.model(), 1, 256)) {
            for (int c = 0; c < ref.prompts().size(); c++) {
                int[] expected = ref.expected().get(c);
                int[] out = generator.generate(List.of(ref.prompts().get(c)), expected.length, Set.of()).get(0);
                int same = 0;
                while (same < expected.length && out[same] == expected[same]) {
                    same++;
                }
                System.out.printf("stories260K bfloat16 greedy case %d: %d of %d reference ids before the first difference%n", c, same,
                        expected.length);
                total += expected.length;
                prefix += same;
                assertTrue(same > 0, "case " + c + ": the first id differs");
            }
        }
        System.out.printf("stories260K bfloat16 greedy: %d of %d ids agree up to each case's first difference%n", prefix, total);
    }

    /**
     * The cache is a container of bfloat16 bits: after the same prefill, its keys and values read as
     * bfloat16 are float32's within bfloat16's rounding (read as float16 they would be nonsense); and
     * a sequence that starts with another's blocks (a prefix hit) gets the logits of a cold prefill.
     */
    @Test
    void theCacheHoldsBfloat16AndAPrefixHitEqualsAColdPrefill() {
        int blockSize = 16;
        int[] text = Arrays.copyOf(Rows.concat(ref.prompts().get(0), ref.expected().get(0), ref.expected().get(1)), 40);
        float[] exactKv = prefillCache(float32.model(), Arrays.copyOf(text, 36), blockSize);
        float[] halfKv = prefillCache(bf16.model(), Arrays.copyOf(text, 36), blockSize);
        double worstKv = 0;
        double largest = 0;
        for (int i = 0; i < exactKv.length; i++) {
            worstKv = Math.max(worstKv, Math.abs(exactKv[i] - halfKv[i]));
            largest = Math.max(largest, Math.abs(exactKv[i]));
        }
        System.out.printf("stories260K bfloat16 cache: max |k,v - float32| %.3g (largest |k,v| %.3g)%n", worstKv, largest);
        assertTrue(largest > 0.5, "the cache was written");
        assertTrue(worstKv < 0.02 * largest, "bfloat16 cache against float32's: " + worstKv + " of " + largest);

        DecoderModel model = bf16.model();
        for (AttentionChoice choice : AttentionChoice.values()) {
            if (choice == AttentionChoice.GATHER_NATIVE) {
                continue; // float32 only: it refuses a bfloat16 cache
            }
            try (NDManager owner = model.manager().newSubManager()) {
                PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 16),
                        model.target().device(), owner);
                AttentionBackend attention = choice.create(cache, model.config());
                forward(model, attention, new SequenceChunk(Arrays.copyOf(text, 36), 0, new int[] {3, 7, 5}, true), blockSize);
                float[] hit = forward(model, attention, new SequenceChunk(Arrays.copyOfRange(text, 32, 40), 32, new int[] {3, 7, 11}, true),
                        blockSize);
                float[] cold = forward(model, attention, new SequenceChunk(text, 0, new int[] {2, 9, 13}, true), blockSize);
                double d = Rows.maxDiff(hit, cold);
                System.out.printf("stories260K bfloat16 %s: prefix hit against cold prefill, max |logit diff| %.3g%n", choice, d);
                assertTrue(d < 1e-4, choice + ": a prefix hit's logits differ from a cold prefill's by " + d);
            }
        }
    }

    /** Prefills {@code prompt} into blocks 1.. of a fresh cache and returns layer 0's first blocks as floats. */
    private static float[] prefillCache(DecoderModel model, int[] prompt, int blockSize) {
        try (NDManager owner = model.manager().newSubManager()) {
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 4),
                    model.target().device(), owner);
            AttentionBackend attention = AttentionChoice.GATHER.create(cache, model.config());
            forward(model, attention, new SequenceChunk(prompt, 0, new int[] {1, 2, 3}, true), blockSize);
            long perSlot = 2L * model.config().numKvHeads() * model.config().headDim();
            int values = (int) (prompt.length * perSlot);
            long from = blockSize * perSlot;
            if (model.target().dtype() != DataType.BFLOAT16) {
                return Arrays.copyOfRange(cache.layer(0).toFloatArray(), (int) from, (int) from + values);
            }
            short[] bits = Bfloat16Test.bits(cache.layer(0));
            float[] out = new float[values];
            for (int i = 0; i < values; i++) {
                out[i] = FloatConversions.bf16ToFloat(bits[(int) from + i]);
            }
            return out;
        }
    }

    private static float[] forward(DecoderModel model, AttentionBackend attention, SequenceChunk chunk, int blockSize) {
        try (NDManager step = model.manager().newSubManager()) {
            return model.forward(ForwardBatch.of(List.of(chunk), blockSize), attention, step).toFloatArray();
        }
    }
}
