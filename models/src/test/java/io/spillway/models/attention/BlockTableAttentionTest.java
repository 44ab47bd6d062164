package io.spillway.models.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.generate.GreedyGenerator;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.NativeOperators;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.testing.Rows;
import io.spillway.models.testing.StoriesReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The block-table plan on a real trained model: stories260K's reference ids exactly, batched and
 * ragged; a prefix hit, where a sequence's first blocks were written by another; and a step whose
 * padded score count passes 2³¹, planned in bytes that follow its blocks. ReferenceParityTest holds
 * the same path to a float64 reference on chunked, windowed and grouped-query batches.
 */
class BlockTableAttentionTest {

    private static StoriesReference ref;
    private static LoadedModel stories;

    @BeforeAll
    static void load() {
        ref = StoriesReference.load();
        stories = LoadedModel.load(ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()));
    }

    @AfterAll
    static void close() {
        // Unloaded when the shared data is missing outside CI (the class is skipped, not failed).
        if (stories != null) {
            stories.close();
        }
    }

    @ParameterizedTest
    @EnumSource(AttentionChoice.class)
    void storiesReferenceIdsComeBackExactlyBatchedAndRagged(AttentionChoice choice) {
        List<int[]> prompts = ref.prompts();
        try (GreedyGenerator generator = new GreedyGenerator(stories.model(), prompts.size(), 256, choice)) {
            int longest = ref.expected().stream().mapToInt(e -> e.length).max().orElseThrow();
            List<int[]> out = generator.generate(prompts, longest, Set.of());
            for (int c = 0; c < prompts.size(); c++) {
                int[] expected = ref.expected().get(c);
                assertArrayEquals(expected, Arrays.copyOf(out.get(c), expected.length), choice + ", case " + c);
            }
        }
    }

    /** Every backend; the native one where its operators are registered (always under CI, on Linux x86-64). */
    private static List<AttentionChoice> choices() {
        return Arrays.stream(AttentionChoice.values())
                .filter(choice -> choice != AttentionChoice.GATHER_NATIVE || NativeOperators.registered())
                .toList();
    }

    /**
     * B starts with A's first two blocks (a cached prefix) and prefills only its own tail: its logits
     * must be those of a cold prefill of the whole text, in every backend, and the backends must agree.
     */
    @Test
    void aPrefixHitReadsTheBlocksAnotherSequenceWrote() {
        DecoderModel model = stories.model();
        int blockSize = 16;
        int[] text = new int[40];
        int[] source = Rows.concat(ref.prompts().get(0), ref.expected().get(0), ref.expected().get(1));
        System.arraycopy(source, 0, text, 0, text.length);
        float[][] byChoice = new float[AttentionChoice.values().length][];
        for (AttentionChoice choice : choices()) {
            try (NDManager owner = model.manager().newSubManager()) {
                PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 16),
                        model.target().device(), owner);
                AttentionBackend attention = choice.create(cache, model.config());
                int[] tableA = {3, 7, 5};
                int[] tableB = {3, 7, 11};
                int[] tableCold = {2, 9, 13};
                forward(model, attention, List.of(new SequenceChunk(Arrays.copyOf(text, 36), 0, tableA, true)), blockSize);
                float[] hit = forward(model, attention, List.of(new SequenceChunk(Arrays.copyOfRange(text, 32, 40), 32, tableB, true)),
                        blockSize);
                float[] cold = forward(model, attention, List.of(new SequenceChunk(text, 0, tableCold, true)), blockSize);
                assertTrue(Rows.maxDiff(hit, cold) < 1e-4, choice + ": a prefix hit's logits differ from a cold prefill's by " + Rows.maxDiff(hit, cold));
                byChoice[choice.ordinal()] = hit;
            }
        }
        for (AttentionChoice choice : choices()) {
            double d = Rows.maxDiff(byChoice[0], byChoice[choice.ordinal()]);
            assertTrue(d < 1e-4, choice + " against gather: " + d);
        }
    }

    /**
     * A freed block keeps what its last owner wrote, NaN after a float16 overflow; a new owner's
     * context ends mid-block, and masking a score does not stop 0 · NaN. With every block but the
     * null one full of NaN, each backend must give the logits of a clean cache.
     */
    @Test
    void whatAReusedBlockHeldPastTheContextIsNeverRead() {
        DecoderModel model = stories.model();
        int blockSize = 16;
        int[] prompt = Arrays.copyOf(Rows.concat(ref.prompts().get(0), ref.expected().get(0)), 21);
        float[] clean = null;
        for (boolean poisoned : new boolean[] {false, true}) {
            for (AttentionChoice choice : choices()) {
                try (NDManager owner = model.manager().newSubManager()) {
                    PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 8),
                            model.target().device(), owner);
                    if (poisoned) {
                        for (int layer = 0; layer < model.config().numLayers(); layer++) {
                            cache.layer(layer).set(new ai.djl.ndarray.index.NDIndex(blockSize + ":"), Float.NaN);
                        }
                    }
                    AttentionBackend attention = choice.create(cache, model.config());
                    float[] prefill = forward(model, attention, List.of(new SequenceChunk(prompt, 0, new int[] {4, 6}, true)), blockSize);
                    float[] decode = forward(model, attention, List.of(SequenceChunk.decode(prompt[3], prompt.length, new int[] {4, 6})),
                            blockSize);
                    float[] both = concatFloats(prefill, decode);
                    if (clean == null) {
                        clean = both;
                    }
                    assertTrue(Rows.maxDiff(clean, both) < 1e-4, choice + (poisoned ? " over a poisoned cache" : "") + ": " + Rows.maxDiff(clean, both));
                }
            }
        }
    }

    /**
     * Four 8,192-token chunks at position 70,000: b·q·l is 2.56e9 padded scores, past any int. The
     * block plan is four rows of 3 + 4,888 longs and the per-token arrays are the step's own rows;
     * the gather plan would need host masks of 2.43e9 floats (each chunk split into 1,024 spans of
     * 8 queries, span r seeing 70,000 + 8(r + 1) positions), which it refuses before staging any.
     */
    @Test
    void aStepPastTwoToThe31ScoresIsPlannedInBytesThatFollowItsBlocks() {
        int blockSize = 16;
        int queries = 8192;
        int start = 70_000;
        int context = start + queries;
        int blocks = (context + blockSize - 1) / blockSize;
        long scores = 4L * queries * context;
        assertTrue(scores > (1L << 31));
        DecoderModel model = stories.model();
        try (NDManager owner = model.manager().newSubManager()) {
            int cacheBlocks = 64;
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), cacheBlocks),
                    model.target().device(), owner);
            List<SequenceChunk> chunks = new ArrayList<>();
            for (int s = 0; s < 4; s++) {
                int[] table = new int[blocks];
                for (int k = 0; k < blocks; k++) {
                    table[k] = 1 + (s * 7 + k) % (cacheBlocks - 1);
                }
                chunks.add(new SequenceChunk(new int[queries], start, table, true));
            }
            ForwardBatch batch = ForwardBatch.of(chunks, blockSize);
            HostStaging staging = HostStaging.batched(model.target().device(), 1 << 20);
            StepAttention step = new BlockTableAttention(cache, model.config(), BlockTableAttention.Kernel.SDPA).begin(batch, owner, staging);
            assertEquals(4, step.groups().size(), "one unpadded group per prefill chunk");
            long planLongs = 0;
            for (int g = 0; g < 4; g++) {
                AttentionGroup group = step.groups().get(g);
                assertEquals(BlockTableAttention.HEADER + blocks, group.blockPlan().size());
                assertEquals(0, group.contextSlots().size());
                assertTrue(group.masks().stream().allMatch(m -> m.size() == 0), "no host mask");
                planLongs += group.blockPlan().size();
            }
            staging.flush(owner);
            long[] plan = step.groups().get(3).blockPlan().toLongArray();
            assertEquals(context, plan[0]);
            assertEquals(start, plan[1]);
            assertEquals(queries, plan[2]);
            assertEquals(1 + (3 * 7 + blocks - 1) % (cacheBlocks - 1), plan[BlockTableAttention.HEADER + blocks - 1]);
            // Planned bytes: the plans (blocks) plus what any plan needs per step row (write slots); none per context token.
            long planned = 8 * (planLongs + step.writeSlots().size());
            assertEquals(8L * (4 * (BlockTableAttention.HEADER + blocks) + 4 * queries), planned);
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> new GatherAttention(cache, model.config()).begin(batch, owner, staging));
            assertTrue(refused.getMessage().contains("2428108800 mask entries") && refused.getMessage().contains("more than a host buffer holds"), refused.getMessage());
        }
    }

    /**
     * A step's inputs reach the device in one copy when its plan is the block-table one: ids,
     * positions, logit rows, write slots, plans and padded query rows are views of one uploaded
     * tensor. A ragged prefill planned by the gather path adds its host-built masks, one copy each.
     */
    @Test
    void aBlockTableStepUploadsItsInputsInOneTransfer() {
        DecoderModel model = stories.model();
        int blockSize = 16;
        try (NDManager owner = model.manager().newSubManager()) {
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 16),
                    model.target().device(), owner);
            List<SequenceChunk> ragged = List.of(
                    new SequenceChunk(Arrays.copyOf(ref.prompts().get(0), 1), 0, new int[] {1, 2}, true),
                    new SequenceChunk(new int[] {1, 5, 9, 14, 20}, 0, new int[] {3}, true),
                    new SequenceChunk(new int[] {1, 7, 3}, 0, new int[] {4}, false),
                    new SequenceChunk(new int[] {33}, 20, new int[] {5, 6}, true));
            for (AttentionChoice choice : choices()) {
                AttentionBackend attention = choice.create(cache, model.config());
                for (int step = 0; step < 3; step++) {
                    long before = model.stepTransfers();
                    forward(model, attention, ragged, blockSize);
                    long transfers = model.stepTransfers() - before;
                    if (choice == AttentionChoice.GATHER || choice == AttentionChoice.GATHER_NATIVE) {
                        assertTrue(transfers > 1, "the gather plan's masks are copies of their own: " + transfers);
                    } else {
                        assertEquals(1, transfers, choice + ": host-to-device copies in one forward pass");
                    }
                }
            }
        }
    }

    /** Prefill chunks of different lengths are attended each on its own, unpadded; decodes stay one group. */
    @Test
    void eachPrefillChunkIsItsOwnGroupWithoutPadding() {
        DecoderModel model = stories.model();
        try (NDManager owner = model.manager().newSubManager()) {
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), 16, model.target().dtype(), 16),
                    model.target().device(), owner);
            ForwardBatch batch = ForwardBatch.of(List.of(
                    SequenceChunk.decode(5, 3, new int[] {1}),
                    new SequenceChunk(new int[] {1, 5, 9, 14, 20}, 0, new int[] {3}, true),
                    SequenceChunk.decode(7, 30, new int[] {4, 6}),
                    new SequenceChunk(new int[] {1, 7}, 17, new int[] {8, 9}, false)), 16);
            StepAttention step = new BlockTableAttention(cache, model.config(), BlockTableAttention.Kernel.SDPA)
                    .begin(batch, owner, HostStaging.batched(model.target().device(), 4096));
            assertEquals(List.of(2, 1, 1), step.groups().stream().map(AttentionGroup::sequences).toList());
            assertEquals(List.of(1, 5, 2), step.groups().stream().map(AttentionGroup::queries).toList());
            assertEquals(List.of(0, 2, 7), step.groups().stream().map(AttentionGroup::firstRow).toList());
            assertTrue(step.groups().stream().allMatch(g -> g.queryRows().size() == 0 && g.validRows().size() == 0), "no padded queries");
        }
    }

    private static float[] forward(DecoderModel model, AttentionBackend attention, List<SequenceChunk> chunks, int blockSize) {
        try (NDManager step = model.manager().newSubManager()) {
            return model.forward(ForwardBatch.of(chunks, blockSize), attention, step).toFloatArray();
        }
    }

    private static float[] concatFloats(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
