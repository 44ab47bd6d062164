package io.spillway.models.sampling;

import io.spillway.models.grammar.Matcher;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * What the sampler remembers about one sample between steps: its seed, the prompt tokens and the
 * counts of generated tokens (for penalties), and how many tokens it has generated.
 *
 * <p>Randomness is a pure function of (seed, position, token id), never a shared stream, so a seeded
 * sample draws the same numbers whatever else shares its batch and however often it was preempted.
 * Not thread-safe: the engine thread owns it.
 */
public final class SampleState {

    private final SamplingParams params;
    private final long seed;
    private final Set<Integer> endTokens;
    private final BitSet promptTokens = new BitSet();
    private final Map<Integer, Integer> outputCounts = new HashMap<>();
    private int generated;
    /** What the text must remain a prefix of (a JSON schema, a tool call), or null: unconstrained. */
    private Matcher grammar;
    private long[] allowed;

    /**
     * @param params      the request's parameters
     * @param seed        this sample's seed (the request seed mixed with the sample index, or random)
     * @param endTokens   the model's end-of-sequence ids (ignored with ignore_eos)
     * @param prompt      the prompt ids, for the repetition penalty
     */
    public SampleState(SamplingParams params, long seed, Set<Integer> endTokens, int[] prompt) {
        this.params = params;
        this.seed = seed;
        this.endTokens = Set.copyOf(endTokens);
        if (params.repetitionPenalty() != 1) {
            for (int t : prompt) {
                if (t >= 0) {
                    promptTokens.set(t);
                }
            }
        }
    }

    /** Constrains this sample's output to documents the grammar accepts; end tokens only once one is complete. */
    public SampleState constrain(Matcher matcher) {
        this.grammar = matcher;
        return this;
    }

    public boolean constrained() {
        return grammar != null;
    }

    /** A child sample of the same prompt (n &gt; 1): same history, its own random stream. */
    public SampleState fork(long seed) {
        SampleState child = new SampleState(params, seed, endTokens, new int[0]);
        child.promptTokens.or(promptTokens);
        child.outputCounts.putAll(outputCounts);
        child.generated = generated;
        child.grammar = grammar == null ? null : grammar.copy();
        return child;
    }

    public SamplingParams params() {
        return params;
    }

    /** Records a generated token. */
    public void accept(int token) {
        if (grammar != null && !grammar.advance(token)) {
            throw new IllegalStateException("token " + token + " is outside the sample's grammar");
        }
        generated++;
        if (params.hasPenalties()) {
            outputCounts.merge(token, 1, Integer::sum);
        }
    }

    public int generated() {
        return generated;
    }

    /**
     * Whether {@code token} ends this sample: the model's EOS (unless ignored; never ignored under a
     * grammar, which allows it only once the document is complete) or a stop id.
     */
    public boolean isStopToken(int token) {
        return params.stopTokenIds().contains(token) || ((!params.ignoreEos() || grammar != null) && endTokens.contains(token));
    }

    /** The tokens the grammar allows next (bit i for token i), or null when unconstrained; valid until the next accept. */
    long[] allowedTokens(int vocab) {
        if (grammar == null) {
            return null;
        }
        int words = (vocab + 63) >>> 6;
        if (allowed == null || allowed.length != words) {
            allowed = new long[words];
        }
        grammar.allowedTokens(allowed);
        return allowed;
    }

    /** The grammar accepts only an end token now. */
    boolean mustEnd() {
        return grammar != null && grammar.mustEnd();
    }

    /** The key of this sample's noise for the token it samples next. */
    long noiseKey() {
        return Sampler.mix(seed + generated * 0x9E3779B97F4A7C15L);
    }

    Set<Integer> endTokens() {
        return endTokens;
    }

    BitSet promptTokens() {
        return promptTokens;
    }

    Map<Integer, Integer> outputCounts() {
        return outputCounts;
    }
}
