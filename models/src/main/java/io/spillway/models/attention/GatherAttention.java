package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
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

/**
 * Paged attention in plain torch ops: each group's context is gathered out of the cache through
 * its block tables into a padded {@code [batch, context]} tensor, then attended with two batched
 * matmuls. Grouped-query attention needs no key/value repeat: queries are viewed as
 * {@code [batch, kvHeads, groupSize * queries, headDim]} and matmul broadcasts over the kv heads.
 *
 * <p>The gather copies the context once per layer, which a fused paged-attention kernel would
 * avoid; this class is the portable reference that such a kernel replaces behind
 * {@link AttentionBackend}.
 */
public final class GatherAttention implements AttentionBackend {

    private final PagedKvCache cache;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final int queriesPerKvHead;
    private final int[] layerWindow;
    private final int[] distinctWindows;
    private final DataType dtype;

    public GatherAttention(PagedKvCache cache, ModelConfig config) {
        this.cache = cache;
        this.heads = config.numHeads();
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.queriesPerKvHead = config.queriesPerKvHead();
        this.layerWindow = config.slidingWindows();
        this.distinctWindows = Arrays.stream(layerWindow).distinct().sorted().toArray();
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
        List<GroupPlan> plans = new ArrayList<>(2);
        for (ForwardBatch.Group group : batch.groups()) {
            plans.add(plan(batch, group, step, staging));
        }
        // Keys and values of a slot sit side by side ([slots, 2, kvHeads, headDim]): one put for each.
        return new Step(new NDIndex("{}, 0", slots), new NDIndex("{}, 1", slots), plans);
    }

    /** Index tensors and masks of one group, built once per step and shared by every layer. */
    private record GroupPlan(ForwardBatch.Group group, NDIndex contextSlots, NDIndex queryRows, NDIndex validRows,
                             NDArray[] masksByWindow) {
    }

    private GroupPlan plan(ForwardBatch batch, ForwardBatch.Group group, NDManager step, HostStaging staging) {
        int b = group.size();
        int q = group.maxQuery();
        int l = group.maxContext();
        long[] context = new long[b * l];
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
        NDIndex contextSlots = new NDIndex("{}", staging.longs(step, context, context.length, new Shape(context.length)));

        NDIndex queryRows = null;
        NDIndex validRows = null;
        if (!group.denseQueries()) {
            long[] rows = new long[b * q];
            long[] valid = new long[group.rows()];
            int v = 0;
            for (int i = 0; i < b; i++) {
                int seq = group.sequences()[i];
                int first = batch.firstRow(seq);
                int len = batch.sequences().get(seq).queryLength();
                for (int t = 0; t < q; t++) {
                    rows[i * q + t] = first + Math.min(t, len - 1);
                    if (t < len) {
                        valid[v++] = (long) i * q + t;
                    }
                }
            }
            queryRows = new NDIndex("{}", staging.longs(step, rows, rows.length, new Shape(rows.length)));
            validRows = new NDIndex("{}", staging.longs(step, valid, valid.length, new Shape(valid.length)));
        }

        NDArray[] masks = new NDArray[distinctWindows.length];
        for (int w = 0; w < distinctWindows.length; w++) {
            int window = distinctWindows[w];
            boolean needed = ragged || q > 1 || (window > 0 && l > window);
            masks[w] = needed ? mask(batch, group, window, step, staging) : null;
        }
        return new GroupPlan(group, contextSlots, queryRows, validRows, masks);
    }

    /** 0 where a query may see a key, -inf elsewhere: causal, within the window, within the sequence. */
    private NDArray mask(ForwardBatch batch, ForwardBatch.Group group, int window, NDManager step, HostStaging staging) {
        int b = group.size();
        int q = group.maxQuery();
        int l = group.maxContext();
        float[] mask = new float[b * q * l];
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
        // Shaped to broadcast over [b, kvHeads, group, (queries,) context] as attendGroup lays scores out.
        Shape shape = q == 1 ? new Shape(b, 1, 1, l) : new Shape(b, 1, 1, q, l);
        NDArray m = staging.floats(step, mask, mask.length, shape);
        return dtype == DataType.FLOAT32 ? m : m.toType(dtype, false);
    }

    private final class Step implements StepAttention {
        private final NDIndex writeKeys;
        private final NDIndex writeValues;
        private final List<GroupPlan> plans;

        Step(NDIndex writeKeys, NDIndex writeValues, List<GroupPlan> plans) {
            this.writeKeys = writeKeys;
            this.writeValues = writeValues;
            this.plans = plans;
        }

        @Override
        public NDArray attend(int layer, NDArray q, NDArray k, NDArray v) {
            NDArray layerCache = cache.layer(layer);
            layerCache.set(writeKeys, k);
            layerCache.set(writeValues, v);
            int windowIndex = Arrays.binarySearch(distinctWindows, layerWindow[layer]);
            if (plans.size() == 1) {
                return attendGroup(layerCache, plans.get(0), q, windowIndex);
            }
            NDList outputs = new NDList(plans.size());
            for (GroupPlan plan : plans) {
                outputs.add(attendGroup(layerCache, plan, q, windowIndex));
            }
            return NDArrays.concat(outputs, 0);
        }

        private NDArray attendGroup(NDArray layerCache, GroupPlan plan, NDArray q, int windowIndex) {
            ForwardBatch.Group g = plan.group();
            int b = g.size();
            int nq = g.maxQuery();
            int l = g.maxContext();
            NDArray rows = plan.queryRows() != null ? q.get(plan.queryRows())
                    : g.rows() == q.getShape().get(0) ? q
                    : q.get(new NDIndex().addSliceDim(g.firstRow(), g.firstRow() + g.rows()));
            // [b, kvHeads, group * queries, headDim]: each kv head serves its group of query heads.
            NDArray queries = nq == 1
                    ? rows.reshape(b, kvHeads, queriesPerKvHead, headDim)
                    : rows.reshape(b, nq, kvHeads, queriesPerKvHead, headDim).transpose(0, 2, 3, 1, 4)
                            .reshape(b, kvHeads, queriesPerKvHead * nq, headDim);

            // The gathered context belongs with the queries (the caller's per-layer scope), never the cache.
            NDArray context = layerCache.get(q.getManager(), plan.contextSlots()).reshape(b, l, 2, kvHeads, headDim);
            NDArray keys = context.transpose(2, 0, 3, 4, 1).get(0);    // [b, kvHeads, headDim, l]
            NDArray values = context.transpose(2, 0, 3, 1, 4).get(1);  // [b, kvHeads, l, headDim]

            NDArray scores = queries.matMul(keys);
            NDArray mask = plan.masksByWindow()[windowIndex];
            if (mask != null) {
                scores = nq == 1
                        ? scores.add(mask)
                        : scores.reshape(b, kvHeads, queriesPerKvHead, nq, l).add(mask).reshape(b, kvHeads, queriesPerKvHead * nq, l);
            }
            NDArray probs = dtype == DataType.FLOAT32
                    ? scores.softmax(-1)
                    : scores.toType(DataType.FLOAT32, false).softmax(-1).toType(dtype, false);
            NDArray out = probs.matMul(values);
            if (nq == 1) {
                return out.reshape(b, heads * headDim);
            }
            out = out.reshape(b, kvHeads, queriesPerKvHead, nq, headDim).transpose(0, 3, 1, 2, 4).reshape(b * nq, heads * headDim);
            return plan.validRows() == null ? out : out.get(plan.validRows());
        }
    }
}
