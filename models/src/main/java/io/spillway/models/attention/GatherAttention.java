package io.spillway.models.attention;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.NativeOperators;
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
 * <p>The gather copies the context once per layer. With native decodes
 * ({@link #withNativeDecodes}) a one-query group is attended by Spillway's native operator instead,
 * which reads the keys and values through the same slots, under the same masks, without the copy;
 * prompt chunks keep the matmuls.
 */
public final class GatherAttention implements AttentionBackend {

    /**
     * The default bound on one group's largest tensor in a layer: half glibc's largest mmap
     * threshold, so that what the bound does not count (the scores' copies in the model's dtype
     * and their mask, the int64 rows the context is read through) stays under the threshold too.
     */
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
    private final int fewestQueriesPerSpan;
    private final boolean nativeDecodes;

    public GatherAttention(PagedKvCache cache, ModelConfig config) {
        this(cache, config, LARGEST_TENSOR_BYTES, false);
    }

    /**
     * With one-query groups attended by Spillway's native operator: a float32 cache on the CPU, in
     * a process where {@link NativeOperators} are registered.
     *
     * @throws IllegalStateException where they are not registered, or the cache is not float32 on the CPU
     */
    public static GatherAttention withNativeDecodes(PagedKvCache cache, ModelConfig config) {
        return new GatherAttention(cache, config, LARGEST_TENSOR_BYTES, true);
    }

    /** With groups split at {@code largestTensorBytes} (tests split small batches with a small one). */
    public GatherAttention(PagedKvCache cache, ModelConfig config, long largestTensorBytes, boolean nativeDecodes) {
        if (nativeDecodes) {
            if (NativeOperators.registration() instanceof NativeOperators.Registration.Unavailable unavailable) {
                throw new IllegalStateException("attention gather-native needs Spillway's native operators, not registered here ("
                        + unavailable.reason() + "); set model.attention to auto or gather");
            }
            Device device = cache.layer(0).getDevice();
            if (cache.spec().dtype() != DataType.FLOAT32 || device.isGpu()) {
                throw new IllegalStateException("attention gather-native attends a float32 cache on the CPU, not " + cache.spec().dtype()
                        + " on " + device + "; set model.attention to auto or gather");
            }
        }
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
        this.nativeDecodes = nativeDecodes;
        // Each span of a split prompt chunk gathers its context again, in every layer. With fewer
        // queries than this a span's gather would copy more bytes than its scores hold, so chunks
        // are not split finer: 43 queries for SmolLM2-135M in float32, 16 for Llama-3.2-1B in bfloat16.
        long gatheredPerPosition = 2L * kvHeads * headDim * dtype.getNumOfBytes();
        long scoresPerQueryAndPosition = (long) heads * Float.BYTES;
        this.fewestQueriesPerSpan = (int) Math.max(1, (gatheredPerPosition + scoresPerQueryAndPosition - 1) / scoresPerQueryAndPosition);
    }

    @Override
    public String name() {
        return nativeDecodes ? "gather-native" : "gather";
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
        List<Run> runs = new ArrayList<>();
        for (ForwardBatch.Group group : batch.groups()) {
            runs.addAll(split(batch, group));
        }
        requireStageable(runs);
        NDArray slots = staging.longs(step, batch.slots(), tokens, new Shape(tokens));
        NDArray none = staging.longs(step, new long[0], 0, new Shape(0));
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
     * where it can be: a span whose context alone gathers more than the bound runs on its own (one
     * more group per layer for each), and a prompt chunk is split by queries only down to
     * {@link #fewestQueriesPerSpan}.
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
     * A sequence's queries this step: one span, or as few spans of near-equal length as keep their
     * float32 scores within the bound, none shorter than {@link #fewestQueriesPerSpan()}; each sees
     * the context up to its last query.
     */
    private List<QuerySpan> spans(ForwardBatch batch, int sequence) {
        SequenceChunk s = batch.sequences().get(sequence);
        int queries = s.queryLength();
        long fitting = largestTensorBytes / scoreBytes(1, 1, s.contextLength());
        int perSpan = (int) Math.min(queries, Math.max(fewestQueriesPerSpan, fitting));
        int count = Math.max(1, Math.min((queries + perSpan - 1) / perSpan, queries / fewestQueriesPerSpan));
        List<QuerySpan> spans = new ArrayList<>(count);
        int first = 0;
        for (int i = 0; i < count; i++) {
            int n = queries / count + (i < queries % count ? 1 : 0);
            spans.add(new QuerySpan(sequence, n, s.startPosition() + first, batch.firstRow(sequence) + first));
            first += n;
        }
        return spans;
    }

    /** Queries below which a prompt chunk is not split: a span's repeated gather would copy more than its scores hold. */
    int fewestQueriesPerSpan() {
        return fewestQueriesPerSpan;
    }

    /**
     * Bytes of the largest tensor a group makes in a layer: its gathered context, or its float32
     * scores; for native decodes, which gather nothing and keep their scores in bounded chunks, the
     * step's own host-built context slots and mask.
     */
    long largestTensor(long sequences, long queries, long context) {
        if (nativeDecodes && queries == 1) {
            return sequences * context * (Long.BYTES + Float.BYTES);
        }
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
        long[] context = new long[Math.toIntExact(run.contextSlots())];
        for (int i = 0; i < b; i++) {
            QuerySpan span = spans.get(i);
            SequenceChunk s = batch.sequences().get(span.sequence());
            for (int j = 0; j < span.context(); j++) {
                // Positions past a span's context stay 0: the null block's zeros.
                context[i * l + j] = ForwardBatch.slot(s, j, batch.blockSize());
            }
        }
        NDArray contextSlots = staging.longs(step, context, context.length, new Shape(context.length));

        PaddedQueries queries = PaddedQueries.of(run, step, staging, none);
        List<NDArray> masks = new ArrayList<>(distinctWindows.length);
        for (int window : distinctWindows) {
            masks.add(run.needsMask(window) ? mask(spans, q, l, window, step, staging) : none);
        }
        AttentionGroup.Mode mode = nativeDecodes && q == 1 ? AttentionGroup.Mode.GATHERED_SLOTS_NATIVE : AttentionGroup.Mode.GATHERED_SLOTS;
        return new AttentionGroup(contextSlots, queries.queryRows(), queries.validRows(), masks, none, mode, batch.blockSize(), b, q, l,
                spans.get(0).firstRow(), run.rows());
    }

    /**
     * Refuses, before anything is staged, a step whose plan would take more host memory than one
     * direct buffer can hold (2 GiB): its int64 context slots and float32 masks over every run,
     * where split spans each list their context again. The block-table plan has no arrays that grow
     * with context.
     */
    private void requireStageable(List<Run> runs) {
        long contextSlots = 0;
        long maskEntries = 0;
        for (Run run : runs) {
            contextSlots += run.contextSlots();
            for (int window : distinctWindows) {
                maskEntries += run.needsMask(window) ? run.maskEntries() : 0;
            }
        }
        long bytes = contextSlots * Long.BYTES + maskEntries * Float.BYTES;
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the gather plan of this step needs " + contextSlots + " context slots and " + maskEntries
                    + " mask entries, " + bytes + " bytes, more than a host buffer holds; serve with model.attention blocks-matmul"
                    + " (or a smaller engine.max-prefill-chunk)");
        }
    }

    /** 0 where a query may see a key, -inf elsewhere: causal, within the window, within the sequence. */
    private NDArray mask(List<QuerySpan> spans, int q, int l, int window, NDManager step, HostStaging staging) {
        int b = spans.size();
        float[] mask = new float[Math.multiplyExact(Math.multiplyExact(b, q), l)];
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
