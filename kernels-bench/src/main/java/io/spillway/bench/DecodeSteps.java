package io.spillway.bench;

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

/** Steps for the comparison mains to time over a cache of their own, on the model's device. */
final class DecodeSteps {

    private DecodeSteps() {
    }

    /** A step's batch and the backend, over its own cache, that it attends with. */
    record Step(ForwardBatch batch, AttentionBackend attention) {
    }

    /** A decode step of {@code batch} distinct random sequences at {@code context}, the cache filled by their prefill. */
    static Step decode(DecoderModel model, int batch, int context, AttentionChoice backend, NDManager owner) {
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int perSequence = (context + 1 + blockSize - 1) / blockSize;
        AttentionBackend attention = backend.create(cache(model, batch * perSequence + 1, owner), model.config());
        Random random = new Random(42);
        List<SequenceChunk> prefill = new ArrayList<>();
        List<SequenceChunk> step = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] table = table(1 + s * perSequence, perSequence);
            prefill.add(new SequenceChunk(random.ints(context, 0, model.config().vocabSize()).toArray(), 0, table, false));
            step.add(SequenceChunk.decode(random.nextInt(model.config().vocabSize()), context, table));
        }
        try (NDManager m = model.manager().newSubManager()) {
            model.forward(ForwardBatch.of(prefill, blockSize), attention, m);
        }
        return new Step(ForwardBatch.of(step, blockSize), attention);
    }

    /** A cache of {@code blocks} blocks (block 0 the null block) for the model, owned by {@code owner}. */
    static PagedKvCache cache(DecoderModel model, int blocks, NDManager owner) {
        return PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), KvCacheSpec.DEFAULT_BLOCK_SIZE, model.target().dtype(), blocks),
                model.target().device(), owner);
    }

    /** The block table of {@code n} consecutive blocks from {@code first}. */
    static int[] table(int first, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = first + i;
        }
        return t;
    }
}
