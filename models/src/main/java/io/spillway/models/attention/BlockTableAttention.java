package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostStaging;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Paged attention driven by block tables and sequence lengths, the plan a paged-attention kernel
 * reads: per sequence its context length, first query position, query length and block table, one
 * int64 row of {@code 3 + blocks}. The script gathers whole blocks and computes the causal,
 * sliding-window and length mask from those positions on the device, so what the host builds and
 * copies grows with blocks, not with context tokens, and no host array is sized {@code b·q·l} (the
 * device still builds a boolean mask of that size per layer; computing it once per step is left).
 *
 * <p>{@link Kernel#SDPA} attends with {@code scaled_dot_product_attention}, the CUDA path, whose
 * memory-efficient kernel takes the mask without materialising the scores. {@link Kernel#MATMUL}
 * is the same plan with two batched matmuls; on the CPU {@link GatherAttention} measured faster and
 * stays the default there. ReferenceParityTest holds all four backends to a float64 reference, and
 * BlockTableAttentionTest to stories260K's ids.
 */
public final class BlockTableAttention implements AttentionBackend {

    /** Which script path attends. */
    public enum Kernel {
        MATMUL(AttentionGroup.Mode.BLOCKS_MATMUL),
        SDPA(AttentionGroup.Mode.BLOCKS_SDPA);

        private final AttentionGroup.Mode mode;

        Kernel(AttentionGroup.Mode mode) {
            this.mode = mode;
        }
    }

    /** Fields of a plan row before the block table. */
    static final int HEADER = 3;

    private final PagedKvCache cache;
    private final Kernel kernel;
    private final long[] distinctWindows;
    private final long[] layerWindowIndex;
    private final List<NDArray> layerCaches;

    public BlockTableAttention(PagedKvCache cache, ModelConfig config, Kernel kernel) {
        this.cache = cache;
        this.kernel = kernel;
        int[] layerWindow = config.slidingWindows();
        int[] distinct = Arrays.stream(layerWindow).distinct().sorted().toArray();
        this.distinctWindows = Arrays.stream(distinct).asLongStream().toArray();
        this.layerWindowIndex = Arrays.stream(layerWindow).mapToLong(w -> Arrays.binarySearch(distinct, w)).toArray();
        this.layerCaches = IntStream.range(0, layerWindow.length).mapToObj(cache::layer).toList();
    }

    @Override
    public String name() {
        return "blocks-" + kernel.name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public StepAttention begin(ForwardBatch batch, NDManager step, HostStaging staging) {
        int tokens = batch.totalTokens();
        long blocksInCache = cache.spec().numBlocks();
        NDArray slots = staging.longs(step, batch.slots(), tokens, new Shape(tokens));
        NDArray none = staging.longs(step, new long[0], 0, new Shape(0));
        List<NDArray> noMasks = Collections.nCopies(distinctWindows.length, none);
        List<AttentionGroup> groups = new ArrayList<>(batch.groups().size());
        for (ForwardBatch.Group group : unpadded(batch)) {
            long[] plan = plan(batch, group, blocksInCache);
            int b = group.size();
            NDArray planArray = staging.longs(step, plan, plan.length, new Shape(b, plan.length / b));
            // Dense by construction (unpadded): no padded query rows to gather or drop.
            groups.add(new AttentionGroup(none, none, none, noMasks, planArray, kernel.mode, batch.blockSize(),
                    b, group.maxQuery(), group.maxContext(), group.firstRow(), group.rows()));
        }
        return new StepAttention(layerCaches, slots, groups, layerWindowIndex, distinctWindows);
    }

    /**
     * The batch's groups with each prefill chunk on its own: decodes share one query shape, but
     * padding chunks of different lengths to the longest (and their contexts to the longest) costs
     * what the fused kernels save. A chunk's rows are contiguous, so the groups still tile the batch.
     */
    static List<ForwardBatch.Group> unpadded(ForwardBatch batch) {
        List<ForwardBatch.Group> groups = new ArrayList<>();
        for (ForwardBatch.Group group : batch.groups()) {
            if (group.maxQuery() == 1 || group.size() == 1) {
                groups.add(group);
                continue;
            }
            for (int seq : group.sequences()) {
                SequenceChunk s = batch.sequences().get(seq);
                groups.add(new ForwardBatch.Group(new int[] {seq}, batch.firstRow(seq), s.queryLength(), s.queryLength(), s.contextLength()));
            }
        }
        return groups;
    }

    /** The group's plan rows, {@code [sequences, 3 + blocks]} flat; blocks past a sequence's own are 0, the null block. */
    static long[] plan(ForwardBatch batch, ForwardBatch.Group group, long blocksInCache) {
        int blockSize = batch.blockSize();
        int blocks = (int) ((group.maxContext() + (long) blockSize - 1) / blockSize);
        int width = HEADER + blocks;
        long[] plan = new long[Math.multiplyExact(group.size(), width)];
        for (int i = 0; i < group.size(); i++) {
            SequenceChunk s = batch.sequences().get(group.sequences()[i]);
            int base = i * width;
            plan[base] = s.contextLength();
            plan[base + 1] = s.startPosition();
            plan[base + 2] = s.queryLength();
            int own = (s.contextLength() + blockSize - 1) / blockSize;
            int[] table = s.blockTable();
            for (int k = 0; k < own; k++) {
                if (table[k] < 0 || table[k] >= blocksInCache) {
                    throw new IllegalArgumentException("block " + table[k] + " of sequence " + group.sequences()[i] + " is outside the cache of "
                            + blocksInCache + " blocks");
                }
                plan[base + HEADER + k] = table[k];
            }
        }
        return plan;
    }
}
