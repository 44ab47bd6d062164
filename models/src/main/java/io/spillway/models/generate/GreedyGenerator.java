package io.spillway.models.generate;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheManager;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.kv.SequenceBlocks;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Greedy decoding of a fixed batch of prompts: one forward pass prefills them all, then every
 * step decodes all unfinished sequences together. This is the model-level path used by
 * {@code spillway generate} and by tests of the forward pass; serving goes through the engine,
 * which adds scheduling, sampling and streaming.
 */
public final class GreedyGenerator implements AutoCloseable {

    private final DecoderModel model;
    private final PagedKvCache cache;
    private final AttentionBackend attention;
    private final NDManager constants;

    /** A generator with its own KV cache sized for {@code maxTokensPerSequence * maxSequences}, attending as the target's default. */
    public GreedyGenerator(DecoderModel model, int maxSequences, int maxTokensPerSequence) {
        this(model, maxSequences, maxTokensPerSequence, AttentionChoice.forTarget(model.target()));
    }

    public GreedyGenerator(DecoderModel model, int maxSequences, int maxTokensPerSequence, AttentionChoice attentionChoice) {
        this.model = model;
        int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
        int blocks = maxSequences * ((maxTokensPerSequence + blockSize - 1) / blockSize) + 1;
        KvCacheSpec spec = KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), blocks);
        this.constants = model.manager().newSubManager();
        this.cache = PagedKvCache.allocate(spec, model.target().device(), constants);
        this.attention = attentionChoice.create(cache, model.config());
    }

    /**
     * @param prompts   token ids of each prompt (each non-empty)
     * @param maxTokens new tokens per sequence at most
     * @param stopIds   ids that end a sequence (the stop id itself is included in the output)
     * @return the generated ids of each prompt
     */
    public List<int[]> generate(List<int[]> prompts, int maxTokens, Set<Integer> stopIds) {
        int n = prompts.size();
        int blockSize = cache.spec().blockSize();
        KvCacheManager blocks = new KvCacheManager(cache.spec().numBlocks(), blockSize, false);
        List<SequenceBlocks> tables = new ArrayList<>();
        List<List<Integer>> outputs = new ArrayList<>();
        int[] lengths = new int[n];
        List<SequenceChunk> chunks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] prompt = prompts.get(i);
            if (prompt.length == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty");
            }
            tables.add(blocks.newSequence(""));
            outputs.add(new ArrayList<>());
            lengths[i] = prompt.length;
            chunks.add(new SequenceChunk(prompt, 0, grow(tables.get(i), prompt.length, blocks), true));
        }
        List<Integer> active = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            active.add(i);
        }
        while (!chunks.isEmpty() && maxTokens > 0) {
            long[] next = step(chunks, blockSize);
            List<SequenceChunk> following = new ArrayList<>();
            List<Integer> stillActive = new ArrayList<>();
            for (int k = 0; k < active.size(); k++) {
                int i = active.get(k);
                int token = (int) next[k];
                outputs.get(i).add(token);
                if (stopIds.contains(token) || outputs.get(i).size() >= maxTokens) {
                    continue;
                }
                int position = lengths[i]++;
                following.add(SequenceChunk.decode(token, position, grow(tables.get(i), position + 1, blocks)));
                stillActive.add(i);
            }
            chunks = following;
            active = stillActive;
        }
        List<int[]> result = new ArrayList<>(n);
        for (List<Integer> out : outputs) {
            result.add(out.stream().mapToInt(Integer::intValue).toArray());
        }
        return result;
    }

    private long[] step(List<SequenceChunk> chunks, int blockSize) {
        try (NDManager step = model.manager().newSubManager()) {
            NDArray logits = model.forward(ForwardBatch.of(chunks, blockSize), attention, step);
            return logits.argMax(1).toLongArray();
        }
    }

    private static int[] grow(SequenceBlocks seq, int tokens, KvCacheManager blocks) {
        if (!blocks.ensureCapacity(seq, tokens)) {
            throw new IllegalStateException("the generator's KV cache is too small for " + tokens + " tokens");
        }
        return seq.table();
    }

    @Override
    public void close() {
        constants.close();
    }
}
