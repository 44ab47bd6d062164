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
    long lastTokenNanos;
    private int[] tokens;
    private int length;

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

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length * 2);
        }
        tokens[length++] = token;
    }

    int length() {
        return length;
    }

    int generated() {
        return length - promptLength;
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
