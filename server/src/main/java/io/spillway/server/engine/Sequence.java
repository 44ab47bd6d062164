package io.spillway.server.engine;

import io.spillway.models.kv.SequenceBlocks;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.tokenizer.IncrementalDetokenizer;
import java.util.Arrays;

/**
 * One sample being generated: every token so far (prompt and output) and how many of them are in
 * the KV cache. The engine's one rule: each step feeds a sequence's uncomputed tokens (all of a
 * prompt chunk, or the one token sampled last step), and once all are computed it samples the
 * next. Chunked prefill, prefix-cache hits, preemption by recompute and n &gt; 1 forks are all
 * just changes to {@link #computed}.
 */
final class Sequence {

    enum Status { WAITING, RUNNING, FINISHED }

    final RequestState request;
    final int index;
    final int promptLength;
    final SampleState sampling;
    final IncrementalDetokenizer detokenizer;
    final StringBuilder text = new StringBuilder();
    SequenceBlocks blocks;
    Status status = Status.WAITING;
    int computed;
    int emittedText;
    /** What the scheduler counted as waiting to be computed when this joined its queue. */
    int queuedTokens;
    long lastTokenNanos;
    private int[] tokens;
    private int length;
    /** Whether the last token is a stand-in for the one a step in flight is drawing. */
    private boolean drawing;

    Sequence(RequestState request, int index, int[] tokens, int length, int promptLength, SampleState sampling,
             IncrementalDetokenizer detokenizer, SequenceBlocks blocks) {
        this.request = request;
        this.index = index;
        this.tokens = Arrays.copyOf(tokens, Math.max(length + 16, length * 5 / 4));
        this.length = length;
        this.promptLength = promptLength;
        this.sampling = sampling;
        this.detokenizer = detokenizer;
        this.blocks = blocks;
    }

    private void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length * 2);
        }
        tokens[length++] = token;
    }

    /**
     * Appends a stand-in for the token the step in flight is drawing, so that the next step can be
     * planned (its length, its KV slot) before the token comes back; {@link #settle} replaces it.
     */
    void appendDrawing() {
        if (drawing) {
            throw new IllegalStateException("sequence " + request.id() + "/" + index + " is already drawing a token");
        }
        append(-1);
        drawing = true;
    }

    /** The drawn token: in place of the stand-in when there is one, else appended. */
    void settle(int token) {
        if (drawing) {
            tokens[length - 1] = token;
            drawing = false;
        } else {
            append(token);
        }
    }

    /** Whether a token of this sequence is still being drawn (its stand-in must not be fed). */
    boolean drawing() {
        return drawing;
    }

    /** Tokens known so far: the length less a stand-in. */
    int settledLength() {
        return drawing ? length - 1 : length;
    }

    int length() {
        return length;
    }

    /** Tokens drawn so far (a stand-in is not one yet). */
    int generated() {
        return settledLength() - promptLength;
    }

    int uncomputed() {
        return length - computed;
    }

    /** Still feeding prompt tokens (or recomputing after preemption), rather than decoding. */
    boolean prefilling() {
        return uncomputed() > 1;
    }

    /** The token array itself (first {@link #length()} entries valid); read-only for callers. */
    int[] tokens() {
        return tokens;
    }

    int[] slice(int from, int count) {
        return Arrays.copyOfRange(tokens, from, from + count);
    }

    boolean finished() {
        return status == Status.FINISHED;
    }
}
