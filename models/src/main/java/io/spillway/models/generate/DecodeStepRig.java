package io.spillway.models.generate;

import ai.djl.ndarray.NDManager;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One decode step of {@code batch} sequences, each at the same fixed context, repeatable forever:
 * what a step costs in steady state (the JMH DecodeStep benchmark and the device acceptance run
 * time it). The prompts are random ids prefilled once; every {@link #step} then rewrites position
 * {@code context}, so the context never grows and every step does the same work.
 *
 * <p>Owns its KV cache (in a sub-manager of the model's); {@link #close} frees it.
 */
public final class DecodeStepRig implements AutoCloseable {

    private final DecoderModel model;
    private final NDManager owner;
    private final AttentionBackend attention;
    private final ForwardBatch decode;

    /** Attending as the target's default. */
    public DecodeStepRig(DecoderModel model, int batch, int context, long seed) {
        this(model, batch, context, seed, AttentionChoice.forTarget(model.target()));
    }

    public DecodeStepRig(DecoderModel model, int batch, int context, long seed, AttentionChoice attentionChoice) {
        this.model = model;
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int blocksPerSequence = (context + 1 + blockSize - 1) / blockSize;
        this.owner = model.manager().newSubManager();
        try {
            PagedKvCache cache = PagedKvCache.allocate(
                    KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), batch * blocksPerSequence + 1),
                    model.target().device(), owner);
            this.attention = attentionChoice.create(cache, model.config());
            Random random = new Random(seed);
            int vocab = model.config().vocabSize();
            List<SequenceChunk> prefill = new ArrayList<>();
            List<SequenceChunk> step = new ArrayList<>();
            for (int s = 0; s < batch; s++) {
                int[] table = new int[blocksPerSequence];
                for (int b = 0; b < table.length; b++) {
                    table[b] = 1 + s * blocksPerSequence + b;
                }
                prefill.add(new SequenceChunk(random.ints(context, 0, vocab).toArray(), 0, table, false));
                step.add(SequenceChunk.decode(random.nextInt(vocab), context, table));
            }
            try (NDManager m = model.manager().newSubManager()) {
                model.forward(ForwardBatch.of(prefill, blockSize), attention, m);
            }
            this.decode = ForwardBatch.of(step, blockSize);
        } catch (RuntimeException e) {
            owner.close();
            throw e;
        }
    }

    /** One step: the forward pass and each row's argmax, read back to the host (which waits for the device). */
    public long[] step() {
        try (NDManager step = model.manager().newSubManager()) {
            return model.forward(decode, attention, step).argMax(1).toLongArray();
        }
    }

    @Override
    public void close() {
        owner.close();
    }
}
