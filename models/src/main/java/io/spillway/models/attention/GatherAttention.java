package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostStaging;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Paged attention in plain torch ops: each group's context is gathered out of the cache, through
 * the slots listed here, head by head into a padded {@code [2, batch * kvHeads, context, headDim]}
 * tensor, then attended with two batched matmuls (the decoder script's {@code attend_group}, which
 * expands the slots into per-head rows once per step). This class plans it once per step, for
 * every layer: the slots each sequence's context occupies, which query rows to pad or drop, and
 * the causal, sliding-window and padding masks.
 *
 * <p>The gather copies the context once per layer, which a fused paged-attention kernel would
 * avoid; this is the portable reference that such a kernel replaces behind
 * {@link AttentionBackend}.
 */
public final class GatherAttention implements AttentionBackend {

    private final PagedKvCache cache;
    private final int[] distinctWindows;
    private final long[] layerWindowIndex;
    private final List<NDArray> layerCaches;
    private final DataType dtype;

    public GatherAttention(PagedKvCache cache, ModelConfig config) {
        this.cache = cache;
        int[] layerWindow = config.slidingWindows();
        this.distinctWindows = Arrays.stream(layerWindow).distinct().sorted().toArray();
        this.layerWindowIndex = Arrays.stream(layerWindow).mapToLong(w -> Arrays.binarySearch(distinctWindows, w)).toArray();
        this.layerCaches = IntStream.range(0, layerWindow.length).mapToObj(cache::layer).toList();
        this.dtype = cache.spec().dtype();
    }

    @Override
    public String name() {
        return "gather";
    }

    @Override
    public StepAttention begin(ForwardBatch batch, NDManager step, HostStaging staging) {
        int tokens = batch.totalTokens();
        long slotCount = cache.spec().slots();
        for (long slot : batch.slots()) {
            if (slot >= slotCount) {
                throw new IllegalArgumentException("KV slot " + slot + " is outside the cache of " + cache.spec().numBlocks()
                        + " blocks of " + cache.spec().blockSize() + " tokens");
            }
        }
        NDArray slots = staging.longs(step, batch.slots(), tokens, new Shape(tokens));
        NDArray none = staging.longs(step, new long[0], 0, new Shape(0));
        List<AttentionGroup> groups = new ArrayList<>(batch.groups().size());
        for (ForwardBatch.Group group : batch.groups()) {
            groups.add(plan(batch, group, step, staging, none));
        }
        return new StepAttention(layerCaches, slots, groups, layerWindowIndex, Arrays.stream(distinctWindows).asLongStream().toArray());
    }

    /** One group's index tensors and masks, built once per step and shared by every layer; {@code none} where one is not needed. */
    private AttentionGroup plan(ForwardBatch batch, ForwardBatch.Group group, NDManager step, HostStaging staging, NDArray none) {
        int b = group.size();
        int q = group.maxQuery();
        int l = group.maxContext();
        long[] context = new long[planSize("context slots", (long) b * l)];
        boolean ragged = false;
        for (int i = 0; i < b; i++) {
            SequenceChunk s = batch.sequences().get(group.sequences()[i]);
            int ctx = s.contextLength();
            ragged |= ctx != l;
            for (int j = 0; j < ctx; j++) {
                // Positions past a sequence's context stay 0: the null block's zeros.
                context[i * l + j] = ForwardBatch.slot(s, j, batch.blockSize());
            }
        }
        NDArray contextSlots = staging.longs(step, context, context.length, new Shape(context.length));

        PaddedQueries queries = PaddedQueries.of(batch, group, step, staging, none);
        List<NDArray> masks = new ArrayList<>(distinctWindows.length);
        for (int window : distinctWindows) {
            boolean needed = ragged || q > 1 || (window > 0 && l > window);
            masks.add(needed ? mask(batch, group, window, step, staging) : none);
        }
        return new AttentionGroup(contextSlots, queries.queryRows(), queries.validRows(), masks, none, AttentionGroup.Mode.GATHERED_SLOTS, batch.blockSize(), b, q, l,
                group.firstRow(), group.rows());
    }

    /** A host array's length, or a clear error past what a Java array holds (the block-table plan has no such arrays). */
    private static int planSize(String what, long size) {
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the gather plan of this step needs " + size + " " + what + ", more than a host array holds;"
                    + " serve with model.attention blocks-matmul (or a smaller engine.max-prefill-chunk)");
        }
        return (int) size;
    }

    /** 0 where a query may see a key, -inf elsewhere: causal, within the window, within the sequence. */
    private NDArray mask(ForwardBatch batch, ForwardBatch.Group group, int window, NDManager step, HostStaging staging) {
        int b = group.size();
        int q = group.maxQuery();
        int l = group.maxContext();
        float[] mask = new float[planSize("mask entries", (long) b * q * l)];
        Arrays.fill(mask, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < b; i++) {
            SequenceChunk s = batch.sequences().get(group.sequences()[i]);
            for (int t = 0; t < q; t++) {
                int base = (i * q + t) * l;
                if (t >= s.queryLength()) {
                    mask[base] = 0; // a padding query: let it see one key so its softmax stays finite
                    continue;
                }
                int position = s.startPosition() + t;
                int from = window > 0 ? Math.max(0, position - window + 1) : 0;
                for (int j = from; j <= position; j++) {
                    mask[base + j] = 0;
                }
            }
        }
        // Shaped to broadcast over [b, kvHeads * group, queries, context] as attend_group lays scores out.
        Shape shape = new Shape(b, 1, q, l);
        NDArray m = staging.floats(step, mask, mask.length, shape);
        // A bfloat16 model's stays float32 (DJL cannot make bfloat16): attend_group casts it.
        return dtype == DataType.FLOAT16 ? m.toType(dtype, false) : m;
    }
}
