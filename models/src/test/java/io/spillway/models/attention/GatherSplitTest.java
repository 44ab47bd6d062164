package io.spillway.models.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.spillway.models.DummyShapes;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.TorchRuntime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How {@link GatherAttention} splits a group at its default bound, on SmolLM2-135M's shape in
 * float32 (9 query heads, 3 KV heads of 64): the long-context batches whose gathered contexts or
 * scores passed glibc's mmap threshold. ReferenceParityTest holds split plans to a float64
 * reference; this holds where the splits fall.
 */
class GatherSplitTest {

    private static final int BLOCK = 16;
    private final ModelConfig config = ModelConfig.parse(DummyShapes.smolLm2_135m());

    @Test
    void sixteenDecodesAt2048TokensAttendInRunsOfFive() {
        List<SequenceChunk> decodes = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            decodes.add(SequenceChunk.decode(7, 2048, table(2049)));
        }
        List<GatherAttention.Run> runs = split(decodes);
        // A sequence gathers 2 * 3 * 2,049 * 64 * 4 bytes, 3.1 MB: five fit in 16 MiB, six do not.
        assertEquals(List.of(5, 5, 5, 1), runs.stream().map(run -> run.spans().size()).toList());
        assertCoversInOrder(runs, decodes);
    }

    @Test
    void aShortContextBatchStaysOneGroup() {
        List<SequenceChunk> decodes = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            decodes.add(SequenceChunk.decode(7, 512, table(513)));
        }
        assertEquals(List.of(16), split(decodes).stream().map(run -> run.spans().size()).toList());
    }

    @Test
    void aLongPromptChunkAttendsInSpansOfQueriesThatSeeOnlyTheirOwnContext() {
        int[] tokens = new int[512];
        SequenceChunk chunk = new SequenceChunk(tokens, 3584, table(4096), true);
        List<GatherAttention.Run> runs = split(List.of(chunk));
        // Its scores would be 9 * 512 * 4,096 * 4 bytes, 75 MB; 113 queries' fit in 16 MiB, so five spans of 102-103.
        assertEquals(5, runs.size());
        int first = 0;
        for (int r = 0; r < runs.size(); r++) {
            assertEquals(1, runs.get(r).spans().size());
            QuerySpan span = runs.get(r).spans().get(0);
            int n = r < 2 ? 103 : 102;
            assertEquals(new QuerySpan(0, n, 3584 + first, first), span);
            assertEquals(3584 + first + n, span.context());
            first += n;
        }
        assertEquals(512, first);
    }

    @Test
    void aPromptChunkIsNotSplitBelowTheQueriesWhoseScoresOutweighTheirGather() {
        try (NDManager owner = TorchRuntime.engine().newBaseManager()) {
            // 2 * 3 * 64 * 4 gathered bytes a position against 9 * 4 score bytes a query and position.
            assertEquals(43, attention(owner, config, DataType.FLOAT32).fewestQueriesPerSpan());
            // Llama-3.2-1B in bfloat16: 2 * 8 * 64 * 2 against 32 * 4.
            ModelConfig llama = ModelConfig.parse(DummyShapes.llama32_1b());
            assertEquals(16, attention(owner, llama, DataType.BFLOAT16).fewestQueriesPerSpan());
        }
        int[] tokens = new int[512];
        SequenceChunk chunk = new SequenceChunk(tokens, 32256, table(32768), true);
        // At 32,768 tokens 14 queries' scores would fill 16 MiB, but spans stop at 43: eleven of 46-47.
        List<GatherAttention.Run> runs = split(List.of(chunk));
        assertEquals(11, runs.size());
        assertEquals(List.of(47, 47, 47, 47, 47, 47, 46, 46, 46, 46, 46), runs.stream().map(GatherAttention.Run::queries).toList());
    }

    @Test
    void everyRunOfAMixedBatchStaysWithinTheBoundAndNoneCouldTakeItsSuccessor() {
        List<SequenceChunk> batch = new ArrayList<>();
        int[] contexts = {300, 4000, 1200, 2048, 80, 3000, 2500, 64, 1999};
        for (int context : contexts) {
            batch.add(SequenceChunk.decode(7, context - 1, table(context)));
        }
        batch.add(new SequenceChunk(new int[256], 2000, table(2256), true));
        batch.add(new SequenceChunk(new int[40], 0, table(40), true));
        try (NDManager owner = TorchRuntime.engine().newBaseManager()) {
            GatherAttention attention = attention(owner, config, DataType.FLOAT32);
            ForwardBatch forward = ForwardBatch.of(batch, BLOCK);
            for (ForwardBatch.Group group : forward.groups()) {
                List<GatherAttention.Run> runs = attention.split(forward, group);
                for (int r = 0; r < runs.size(); r++) {
                    List<QuerySpan> run = runs.get(r).spans();
                    long largest = largest(attention, run);
                    assertTrue(largest <= GatherAttention.LARGEST_TENSOR_BYTES || run.size() == 1, "run " + r + " makes " + largest + " bytes");
                    if (r + 1 < runs.size()) {
                        List<QuerySpan> joined = new ArrayList<>(run);
                        joined.add(runs.get(r + 1).spans().get(0));
                        assertTrue(largest(attention, joined) > GatherAttention.LARGEST_TENSOR_BYTES, "run " + r + " could have taken the next span");
                    }
                }
                assertRowsInOrder(runs, group.firstRow(), group.rows());
            }
            assertEquals(2, forward.groups().size());
        }
    }

    private List<GatherAttention.Run> split(List<SequenceChunk> sequences) {
        try (NDManager owner = TorchRuntime.engine().newBaseManager()) {
            ForwardBatch batch = ForwardBatch.of(sequences, BLOCK);
            assertEquals(1, batch.groups().size());
            List<GatherAttention.Run> runs = attention(owner, config, DataType.FLOAT32).split(batch, batch.groups().get(0));
            assertRowsInOrder(runs, 0, batch.totalTokens());
            return runs;
        }
    }

    /** A gather plan over a two-block cache: splitting reads shapes only, never the cache. */
    private static GatherAttention attention(NDManager owner, ModelConfig config, DataType dtype) {
        PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(config, BLOCK, dtype, 2), Device.cpu(), owner);
        return new GatherAttention(cache, config);
    }

    private static long largest(GatherAttention attention, List<QuerySpan> run) {
        int q = run.stream().mapToInt(QuerySpan::queries).max().orElseThrow();
        int l = run.stream().mapToInt(QuerySpan::context).max().orElseThrow();
        return attention.largestTensor(run.size(), q, l);
    }

    /** Each run's rows follow the previous run's, and together they are the group's. */
    private static void assertRowsInOrder(List<GatherAttention.Run> runs, int firstRow, int rows) {
        int row = firstRow;
        for (GatherAttention.Run run : runs) {
            for (QuerySpan span : run.spans()) {
                assertEquals(row, span.firstRow(), "a span starts where the previous ended");
                row += span.queries();
            }
        }
        assertEquals(firstRow + rows, row);
    }

    private static void assertCoversInOrder(List<GatherAttention.Run> runs, List<SequenceChunk> sequences) {
        int next = 0;
        for (GatherAttention.Run run : runs) {
            for (QuerySpan span : run.spans()) {
                assertEquals(next++, span.sequence());
                assertEquals(sequences.get(span.sequence()).contextLength(), span.context());
            }
        }
        assertEquals(sequences.size(), next);
    }

    /** A block table for {@code tokens} positions; every block is 1, since nothing is read. */
    private static int[] table(int tokens) {
        int[] blocks = new int[(tokens + BLOCK - 1) / BLOCK];
        Arrays.fill(blocks, 1);
        return blocks;
    }
}
