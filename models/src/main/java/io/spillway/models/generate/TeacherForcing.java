package io.spillway.models.generate;

import ai.djl.ndarray.NDManager;
import io.spillway.models.arch.DecoderModel;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import java.util.Arrays;
import java.util.List;

/**
 * The logits a model gives for each token of a known continuation, read token by token (teacher
 * forcing): row {@code t} is the distribution that predicts {@code continuation[t]}, after the
 * prompt and {@code continuation[0..t)}. Two models (two devices, two dtypes, two weight formats)
 * compared this way see the same inputs at every position, so one early difference in a pick does
 * not make every later row incomparable.
 */
public final class TeacherForcing {

    private TeacherForcing() {
    }

    /** float32 logits, {@code [continuation.length][vocab]}, attending as the target's default; the prompt is prefilled as one chunk. */
    public static float[][] logits(DecoderModel model, int[] prompt, int[] continuation) {
        return logits(model, prompt, continuation, AttentionChoice.forTarget(model.target()));
    }

    /** As {@link #logits(DecoderModel, int[], int[])}, attending through {@code attentionChoice}. */
    public static float[][] logits(DecoderModel model, int[] prompt, int[] continuation, AttentionChoice attentionChoice) {
        return read(model, prompt, continuation, attentionChoice, (t, table) -> t == 0 ? new SequenceChunk(prompt, 0, table, true)
                : SequenceChunk.decode(continuation[t - 1], prompt.length + t - 1, table));
    }

    /**
     * As {@link #logits(DecoderModel, int[], int[])}, but row {@code t} comes from one prefill of the
     * prompt and {@code continuation[0..t)} together: every row is a prompt's first-token
     * distribution, computed the way a prefill computes it (all the prefix's tokens in one call),
     * where the other reads every continuation token as a one-row decode step. A kernel whose error
     * depends on the rows it is called with shows it here.
     */
    public static float[][] prefillLogits(DecoderModel model, int[] prompt, int[] continuation) {
        int[] sequence = new int[prompt.length + continuation.length];
        System.arraycopy(prompt, 0, sequence, 0, prompt.length);
        System.arraycopy(continuation, 0, sequence, prompt.length, continuation.length);
        // Positions from 0 each time: the prefill rewrites the cache's slots, and reads none past its prefix.
        return read(model, prompt, continuation, AttentionChoice.forTarget(model.target()),
                (t, table) -> new SequenceChunk(Arrays.copyOf(sequence, prompt.length + t), 0, table, true));
    }

    /** The chunk whose logits are row {@code t}, over the sequence's block table. */
    private interface RowChunk {
        SequenceChunk at(int t, int[] table);
    }

    private static float[][] read(DecoderModel model, int[] prompt, int[] continuation, AttentionChoice attentionChoice, RowChunk chunks) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        float[][] rows = new float[continuation.length][];
        try (NDManager owner = model.manager().newSubManager()) {
            int blockSize = KvCacheSpec.DEFAULT_BLOCK_SIZE;
            int blocks = (prompt.length + continuation.length + blockSize - 1) / blockSize;
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), blocks + 1),
                    model.target().device(), owner);
            AttentionBackend attention = attentionChoice.create(cache, model.config());
            int[] table = new int[blocks];
            for (int b = 0; b < blocks; b++) {
                table[b] = b + 1;
            }
            for (int t = 0; t < continuation.length; t++) {
                try (NDManager step = model.manager().newSubManager()) {
                    rows[t] = model.forward(ForwardBatch.of(List.of(chunks.at(t, table)), blockSize), attention, step).toFloatArray();
                }
            }
        }
        return rows;
    }
}
