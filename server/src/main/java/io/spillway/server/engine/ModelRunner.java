package io.spillway.server.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one scheduled batch through the model: builds the flat forward batch from the sequences'
 * token chunks and block tables, runs the forward pass in a scope of its own, and brings back only
 * what sampling needs (every logit row, or just the argmax when every row is greedy and plain).
 *
 * <p>Owns the KV cache tensors. Everything a step allocates is closed before it returns.
 */
final class ModelRunner implements AutoCloseable {

    /** What a step produced for the rows that need a new token, in batch order. */
    record StepOutput(float[] logits, long[] argmax, int vocab) {
        boolean hasLogits() {
            return logits != null;
        }
    }

    private final DecoderModel model;
    private final NDManager owner;
    private final PagedKvCache cache;
    private final AttentionBackend attention;

    ModelRunner(DecoderModel model, KvCacheSpec spec) {
        this.model = model;
        this.owner = model.manager().newSubManager();
        this.cache = PagedKvCache.allocate(spec, model.target().device(), owner);
        this.attention = new GatherAttention(cache, model.config());
    }

    KvCacheSpec spec() {
        return cache.spec();
    }

    /**
     * @param fullLogits whether any sampled row needs its logits (else only argmax ids come back)
     */
    StepOutput execute(List<Scheduler.Scheduled> batch, boolean fullLogits) {
        List<SequenceChunk> chunks = new ArrayList<>(batch.size());
        for (Scheduler.Scheduled s : batch) {
            Sequence seq = s.sequence();
            boolean last = seq.computed + s.tokens() == seq.length();
            chunks.add(new SequenceChunk(seq.slice(seq.computed, s.tokens()), seq.computed, seq.blocks.table(), last));
        }
        try (NDManager step = model.manager().newSubManager()) {
            NDArray logits = model.forward(ForwardBatch.of(chunks, cache.spec().blockSize()), attention, step);
            int vocab = (int) logits.getShape().get(1);
            if (logits.getShape().get(0) == 0) {
                return new StepOutput(new float[0], new long[0], vocab);
            }
            return fullLogits ? new StepOutput(logits.toFloatArray(), null, vocab) : new StepOutput(null, logits.argMax(1).toLongArray(), vocab);
        }
    }

    @Override
    public void close() {
        owner.close();
    }
}
