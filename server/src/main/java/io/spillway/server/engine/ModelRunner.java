package io.spillway.server.engine;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.HostCopies;
import io.spillway.models.sampling.DeviceSampler;
import io.spillway.models.sampling.Sample;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one scheduled batch through the model: builds the flat forward batch from the sequences'
 * token chunks and block tables, queues the forward pass in a scope of its own, and draws the step's
 * tokens on the device while the logits are still there ({@link DeviceSampler}): what comes back to
 * the host is a token id per draw and the log-probabilities asked for, never the logits.
 *
 * <p>Owns the KV cache tensors and the compiled sampler with its scratch. Everything a step
 * allocates is closed before it returns.
 */
final class ModelRunner implements BatchRunner, AutoCloseable {

    private final DecoderModel model;
    private final NDManager owner;
    private final PagedKvCache cache;
    private final AttentionBackend attention;
    private final HostCopies copies = new HostCopies();
    private final DeviceSampler sampler;

    ModelRunner(DecoderModel model, KvCacheSpec spec, AttentionChoice attentionChoice) {
        this.model = model;
        this.owner = model.manager().newSubManager();
        this.cache = PagedKvCache.allocate(spec, model.target().device(), owner);
        this.attention = attentionChoice.create(cache, model.config());
        this.sampler = new DeviceSampler(owner, model.target().device(), copies);
        sampler.reserve(model.config().vocabSize());
    }

    KvCacheSpec spec() {
        return cache.spec();
    }

    ComputeTarget target() {
        return model.target();
    }

    /** Host-to-device transfers of every step so far: the forward passes' and any the sampler made on its own. */
    long hostToDeviceTransfers() {
        return model.stepTransfers() + sampler.transfers();
    }

    /** Bytes copied from the device to the host by every step so far. */
    long hostCopyBytes() {
        return copies.bytes();
    }

    /**
     * Draws come from the logits rows of the sequences whose chunk ends them, rows in batch
     * order. Two things could make queueing a step wait for the device: a copy from pageable host
     * memory may wait for the device's queue to drain, and a top-k or nucleus draw reads a count
     * back mid-script. So the draws' parameters go in the forward pass's one transfer, made while
     * the queue is empty (the previous step's samples drained it) and before the pass is queued,
     * and the draws themselves are queued by {@link LaunchedBatch#samples()}. Whatever the pass
     * allocated is released when the launched batch closes, or here when queueing it throws: a
     * step retried after an out-of-memory finds the memory the failed attempt held free again.
     */
    @Override
    public LaunchedBatch launch(StepBatch batch) {
        List<SequenceChunk> chunks = new ArrayList<>(batch.sequences());
        for (Scheduler.Scheduled s : batch.scheduled()) {
            Sequence seq = s.sequence();
            boolean last = seq.computed + s.tokens() == seq.length();
            chunks.add(new SequenceChunk(seq.slice(seq.computed, s.tokens()), seq.computed, seq.blocks.table(), last));
        }
        ForwardBatch forward = ForwardBatch.of(chunks, cache.spec().blockSize());
        DeviceSampler.Planned draws = sampler.plan(batch.draws(), forward.logitRows().length, model.config().vocabSize());
        NDManager step = model.manager().newSubManager();
        try {
            NDArray logits = model.forward(forward, attention, step, staging -> draws.upload(staging, step));
            return new Launched(sampler, logits, draws, step);
        } catch (RuntimeException | Error e) {
            step.close();
            throw e;
        }
    }

    /** A queued forward pass, its draws uploaded, and the scope that owns its tensors. */
    private record Launched(DeviceSampler sampler, NDArray logits, DeviceSampler.Planned draws, NDManager step)
            implements LaunchedBatch {
        @Override
        public List<Sample> samples() {
            return sampler.draw(logits, draws, step).samples();
        }

        @Override
        public void close() {
            step.close();
        }
    }

    @Override
    public void close() {
        sampler.close();
        owner.close();
    }
}
