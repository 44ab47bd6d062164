package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.StoriesReference;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The KV cache sized from a profile of the largest steps. The device memory reading is the one
 * thing played here (there is no GPU to read); the steps run through stories260K's real forward
 * pass and sampler, on both attention backends.
 */
class KvCacheSizingTest {

    /** A small model's attention: 4 heads, 2 KV heads of 8, float32. */
    private static final StepTransient SHAPE = new StepTransient(4, 2, 8, 4);

    private static LoadedModel stories;

    @BeforeAll
    static void load() {
        stories = LoadedModel.load(ModelLoadOptions.of(StoriesReference.load().directory(), ComputeTarget.cpuFloat32()));
    }

    @AfterAll
    static void close() {
        // Unloaded when the shared data is missing outside CI (the class is skipped, not failed).
        if (stories != null) {
            stories.close();
        }
    }

    private static EngineConfig config(int seqs, int batched, int chunk, long budget) {
        return new EngineConfig(seqs, batched, chunk, 16, 1L << 20, 0.9, true, 10, 10_000, Duration.ZERO, 0, budget);
    }

    @Test
    void theWorstStepsAreAFullChunkAtTheLongestContextAndAsManyDecodesThereAsTheBudgetAdmits() {
        int maxLength = 4096;
        // Decodes at 4,096 tokens cost 16 + 4,096 x (2 x 8 x 2 x 4) + 4 x 4,096 x 4 + 4,096 x 4 each:
        // find how many fit by the estimate itself, independently of the loop under test.
        long budget = 10 * SHAPE.group(1, 1, maxLength) + 7;
        int fitting = 0;
        while (SHAPE.group(fitting + 1, 1, maxLength) <= budget) {
            fitting++;
        }
        assertTrue(fitting >= 9 && fitting < 64, "the budget admits some decodes, not all: " + fitting);

        List<KvCacheSizing.ProfileStep> steps = KvCacheSizing.worstCaseSteps(config(64, 512, 256, budget), maxLength, SHAPE);
        assertEquals(4, steps.size(), KvCacheSizing.describe(steps));
        assertArrayEquals(new int[] {256}, steps.get(0).queries(), "one chunk of max-prefill-chunk tokens");
        assertEquals(maxLength, steps.get(0).context());
        assertEquals(fitting, steps.get(1).queries().length, "as many decodes at the longest context as fit the budget");
        assertEquals(maxLength, steps.get(1).context());
        assertEquals(64, steps.get(2).queries().length, "max-num-seqs rows for the sampler");
        assertArrayEquals(new int[] {256, 256}, steps.get(3).queries(), "max-num-batched-tokens of prompt chunks in one step");
        steps = KvCacheSizing.worstCaseSteps(config(8, 512, 128 + 72, 1L << 40), maxLength, SHAPE);
        assertArrayEquals(new int[] {200, 200, 112}, steps.get(steps.size() - 1).queries(), "the last chunk takes what is left");
        assertEquals(512, steps.get(steps.size() - 1).tokens());

        // A chunk never exceeds the token budget or the model; a budget too small for one decode still runs one.
        steps = KvCacheSizing.worstCaseSteps(config(8, 100, 256, 1), 64, SHAPE);
        assertArrayEquals(new int[] {64}, steps.get(0).queries());
        assertEquals(1, steps.get(1).queries().length);
        assertEquals(8, steps.get(2).queries().length);
        assertArrayEquals(new int[] {64, 36}, steps.get(3).queries(), "a chunk is also capped by the model's length");
        steps = KvCacheSizing.worstCaseSteps(config(8, 100, 256, 1L << 40), 1000, SHAPE);
        assertArrayEquals(new int[] {100}, steps.get(0).queries());
        assertEquals(8, steps.get(1).queries().length, "all sequences fit: no separate widest step");
        assertEquals(2, steps.size());
    }

    @Test
    void theKvCacheGetsTheConfiguredFractionLessWhatIsInUseAfterTheStepsRan() {
        for (AttentionChoice choice : List.of(AttentionChoice.GATHER, AttentionChoice.BLOCKS_SDPA)) {
            AtomicLong transfersWhenRead = new AtomicLong(-1);
            long before = stories.model().stepTransfers();
            long total = 80L << 30;
            long used = 20L << 30;
            KvCacheSizing.Sizing sizing = KvCacheSizing.measure(stories.model(), choice, config(32, 128, 64, 1L << 20),
                    stories.model().maxModelLength(), 512L << 20, () -> {
                        transfersWhenRead.set(stories.model().stepTransfers());
                        return new KvCacheSizing.DeviceMemory(total, used);
                    });
            assertEquals((long) (total * 0.9) - used - (512L << 20), sizing.kvCacheBytes());
            assertEquals(4, sizing.steps().size(), KvCacheSizing.describe(sizing.steps()));
            assertTrue(transfersWhenRead.get() > before, choice + ": memory is read after the steps ran through the model");
            assertEquals(stories.model().stepTransfers(), transfersWhenRead.get(), choice + ": and not before the last of them");
        }
    }

    @Test
    void nothingLeftForTheKvCacheIsAClearErrorWithTheFigures() {
        long blocks = 2 * KvCacheSpec.bytesPerBlock(stories.config(), 16, stories.model().target().dtype());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> KvCacheSizing.measure(stories.model(),
                AttentionChoice.GATHER, config(4, 64, 64, 1L << 20), stories.model().maxModelLength(), 0,
                () -> new KvCacheSizing.DeviceMemory(10L << 30, (9L << 30) - blocks / 2)));
        assertTrue(e.getMessage().contains("no device memory left for the KV cache") && e.getMessage().contains("9215 of 10240 MiB"),
                e.getMessage());
        assertTrue(e.getMessage().contains("prompt chunk: 1 x 64 tokens"), e.getMessage());
    }
}
