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
 * <p>A batch's decodes and its prompt chunks attend as separate groups, and a group is split
 * further where its largest tensor in a layer (the gathered context, or the float32 scores the
 * softmax runs on) would pass {@link #LARGEST_TENSOR_BYTES}: between sequences, and within one
 * prompt chunk between spans of queries, each of which then gathers only the context its last
 * query sees. glibc serves a block above its mmap threshold (32 MiB at most, see the runtime's
 * NativeAllocator) with fresh pages, which the kernel faults in and zeroes in every layer of every
 * step. Measured here on SmolLM2-135M's float32 decode step: 139 ms for 8 sequences of 2,048
 * tokens (25 MB gathered a layer), 2.3 s for 12 (38 MB), 3.9 s for 16.
 *
 * <p>The gather copies the context once per layer, which a fused paged-attention kernel would
 * avoid; this is the portable reference that such a kernel replaces behind
 * {@link AttentionBackend}.
 */
public final class GatherAttention implements AttentionBackend {

    /** The default bound on one group's largest tensor in a layer: half glibc's largest mmap threshold. */
    public static final long LARGEST_TENSOR_BYTES = 16L << 20;

    private final PagedKvCache cache;
    private final int[] distinctWindows;
    private final long[] layerWindowIndex;
    private final List<NDArray> layerCaches;
    private final DataType dtype;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final long largestTensorBytes;

    public GatherAttention(PagedKvCache cache, ModelConfig config) {
        this(cache, config, LARGEST_TENSOR_BYTES);
    }

    /** As the default, with groups split at {@code largestTensorBytes} (tests split small batches with a small one). */
    public GatherAttention(PagedKvCache cache, ModelConfig config, long largestTensorBytes) {
        if (largestTensorBytes < 1) {
            throw new IllegalArgumentException("a gather group's largest tensor must be allowed at least a byte, not " + largestTensorBytes);
        }
        this.cache = cache;
        int[] layerWindow = config.slidingWindows();
        this.distinctWindows = Arrays.stream(layerWindow).distinct().sorted().toArray();
        this.layerWindowIndex = Arrays.stream(layerWindow).mapToLong(w -> Arrays.binarySearch(distinctWindows, w)).toArray();
        this.layerCaches = IntStream.range(0, layerWindow.length).mapToObj(cache::layer).toList();
        this.dtype = cache.spec().dtype();
        this.heads = config.numHeads();
        this.kvHeads = config.numKvHeads();
        this.headDim = config.headDim();
        this.largestTensorBytes = largestTensorBytes;
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
        List<Run> runs = new ArrayList<>();
        for (ForwardBatch.Group group : batch.groups()) {
            runs.addAll(split(batch, group));
        }
        // Checked for the whole step before any of it is staged: split runs each repeat their context.
        long contextSlots = 0;
        long maskEntries = 0;
        for (Run run : runs) {
            contextSlots += run.contextSlots();
            for (int window : distinctWindows) {
                maskEntries += run.needsMask(window) ? run.maskEntries() : 0;
            }
        }
        planSize("context slots", contextSlots);
        planSize("mask entries", maskEntries);
        List<AttentionGroup> groups = new ArrayList<>(runs.size());
        for (Run run : runs) {
            groups.add(plan(batch, run, step, staging, none));
        }
        return new StepAttention(layerCaches, slots, groups, layerWindowIndex, Arrays.stream(distinctWindows).asLongStream().toArray());
    }

    /**
     * Spans of queries that attend as one group, padded to the longest query and context among them.
     *
     * @param spans   in row order
     * @param queries the longest span's queries
     * @param context the longest span's context
     */
    record Run(List<QuerySpan> spans, int queries, int context) {

        Run {
            spans = List.copyOf(spans);
        }

        int rows() {
            return spans.stream().mapToInt(QuerySpan::queries).sum();
        }

        boolean ragged() {
            return spans.stream().anyMatch(span -> span.context() != context);
        }

        boolean needsMask(int window) {
            return ragged() || queries > 1 || (window > 0 && context > window);
        }

        long contextSlots() {
            return (long) spans.size() * context;
        }

        long maskEntries() {
            return contextSlots() * queries;
        }
    }

    /**
     * A batch group as runs of spans, in row order, each run's largest tensor within the bound
     * where it can be: a sequence whose context alone gathers more than the bound attends whole,
     * and a prompt chunk is split by queries only down to {@link #fewestQueriesPerSpan}.
     */
    List<Run> split(ForwardBatch batch, ForwardBatch.Group group) {
        List<Run> runs = new ArrayList<>();
        List<QuerySpan> run = new ArrayList<>();
        int maxQuery = 0;
        int maxContext = 0;
        for (int sequence : group.sequences()) {
            for (QuerySpan span : spans(batch, sequence)) {
                int q = Math.max(maxQuery, span.queries());
                int l = Math.max(maxContext, span.context());
                if (!run.isEmpty() && largestTensor(run.size() + 1, q, l) > largestTensorBytes) {
                    runs.add(new Run(run, maxQuery, maxContext));
                    run = new ArrayList<>();
                    q = span.queries();
                    l = span.context();
                }
                run.add(span);
                maxQuery = q;
                maxContext = l;
            }
        }
        runs.add(new Run(run, maxQuery, maxContext));
        return runs;
    }

    /**
     * A sequence's queries this step: one span, or spans of equal length whose float32 scores stay
     * within the bound, each seeing the context up to its last query.
     */
    private List<QuerySpan> spans(ForwardBatch batch, int sequence) {
        SequenceChunk s = batch.sequences().get(sequence);
        int queries = s.queryLength();
        int perSpan = queries;
        while (perSpan > 1 && (perSpan + 1) / 2 >= fewestQueriesPerSpan() && scoreBytes(1, perSpan, s.contextLength()) > largestTensorBytes) {
            perSpan = (perSpan + 1) / 2;
        }
        int count = (queries + perSpan - 1) / perSpan;
        int length = (queries + count - 1) / count;
        List<QuerySpan> spans = new ArrayList<>(count);
        for (int first = 0; first < queries; first += length) {
            int n = Math.min(length, queries - first);
            int position = s.startPosition() + first;
            spans.add(new QuerySpan(sequence, first, n, position, position + n, batch.firstRow(sequence) + first));
        }
        return spans;
    }

    /**
     * Each span of a split prompt chunk gathers its context again, in every layer. With fewer
     * queries than this, a span's gather would copy more bytes than its scores hold, so chunks are
     * not split finer: 43 queries for SmolLM2-135M in float32, 32 for Llama-3-8B in bfloat16.
     */
    int fewestQueriesPerSpan() {
        long gatheredPerPosition = 2L * kvHeads * headDim * dtype.getNumOfBytes();
        long scoresPerQueryAndPosition = (long) heads * Float.BYTES;
        return (int) Math.max(1, (gatheredPerPosition + scoresPerQueryAndPosition - 1) / scoresPerQueryAndPosition);
    }

    /** Bytes of the largest tensor a group makes in a layer: its gathered context, or its float32 scores. */
    long largestTensor(long sequences, long queries, long context) {
        long gathered = 2 * sequences * kvHeads * context * headDim * dtype.getNumOfBytes();
        return Math.max(gathered, scoreBytes(sequences, queries, context));
    }

    private long scoreBytes(long sequences, long queries, long context) {
        return sequences * heads * queries * context * Float.BYTES;
    }

    /** One run's index tensors and masks, built once per step and shared by every layer; {@code none} where one is not needed. */
    private AttentionGroup plan(ForwardBatch batch, Run run, NDManager step, HostStaging staging, NDArray none) {
        List<QuerySpan> spans = run.spans();
        int b = spans.size();
        int q = run.queries();
        int l = run.context();
        int rows = run.rows();
        long[] context = new long[planSize("context slots", run.contextSlots())];
        for (int i = 0; i < b; i++) {
            QuerySpan span = spans.get(i);
            SequenceChunk s = batch.sequences().get(span.sequence());
            for (int j = 0; j < span.context(); j++) {
                // Positions past a span's context stay 0: the null block's zeros.
                context[i * l + j] = ForwardBatch.slot(s, j, batch.blockSize());
            }
        }
        NDArray contextSlots = staging.longs(step, context, context.length, new Shape(context.length));

        PaddedQueries queries = PaddedQueries.of(spans, q, rows, step, staging, none);
        List<NDArray> masks = new ArrayList<>(distinctWindows.length);
        for (int window : distinctWindows) {
            masks.add(run.needsMask(window) ? mask(spans, q, l, window, step, staging) : none);
        }
        return new AttentionGroup(contextSlots, queries.queryRows(), queries.validRows(), masks, none, AttentionGroup.Mode.GATHERED_SLOTS,
                batch.blockSize(), b, q, l, spans.get(0).firstRow(), rows);
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
    private NDArray mask(List<QuerySpan> spans, int q, int l, int window, NDManager step, HostStaging staging) {
        int b = spans.size();
        float[] mask = new float[planSize("mask entries", (long) b * q * l)];
        Arrays.fill(mask, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < b; i++) {
            QuerySpan span = spans.get(i);
            for (int t = 0; t < q; t++) {
                int base = (i * q + t) * l;
                if (t >= span.queries()) {
                    mask[base] = 0; // a padding query: let it see one key so its softmax stays finite
                    continue;
                }
                int position = span.position() + t;
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
