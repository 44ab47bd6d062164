package io.spillway.models.grammar;

/**
 * Where one sequence is in its grammar. Not thread-safe: one per sequence; {@link #copy()} forks
 * it (for n &gt; 1, samples fork after the prompt).
 */
public final class Matcher {

    private final CompiledGrammar grammar;
    private Machine.Config config;
    private boolean ended;

    Matcher(CompiledGrammar grammar, Machine.Config config) {
        this.grammar = grammar;
        this.config = config;
    }

    /**
     * Sets bit i of {@code mask} (token i is bit {@code i & 63} of word {@code i >>> 6}) when
     * token i may come next, and clears the others. End tokens are set iff the text so far is a
     * complete document; once an end token has been accepted, only end tokens are set.
     *
     * @param mask {@code ceil(vocabularySize / 64)} words
     */
    public void allowedTokens(long[] mask) {
        int words = (grammar.vocabulary().size() + 63) >>> 6;
        if (mask.length != words) {
            throw new IllegalArgumentException("mask has " + mask.length + " words, the vocabulary needs " + words);
        }
        if (ended) {
            java.util.Arrays.fill(mask, 0);
        } else {
            CompiledGrammar.Mask m = grammar.mask(grammar.keyState(config));
            m.writeTo(mask);
            Machine machine = grammar.machine;
            Vocabulary v = grammar.vocabulary();
            for (int token : m.uncertain()) {
                if (machine.run(config, v.rawBytes(token), false) != null) {
                    mask[token >>> 6] |= 1L << token;
                }
            }
            for (int token : m.uncertainSpecials()) {
                if (machine.run(config, v.rawBytes(token), true) != null) {
                    mask[token >>> 6] |= 1L << token;
                }
            }
        }
        if (complete()) {
            for (int token : grammar.endTokens()) {
                mask[token >>> 6] |= 1L << token;
            }
        }
    }

    /**
     * Moves past {@code token} if the grammar allows it here.
     *
     * @return false, leaving the matcher unchanged, when the token is not allowed
     */
    public boolean advance(int token) {
        Vocabulary v = grammar.vocabulary();
        if (token < 0 || token >= v.size()) {
            return false;
        }
        if (v.endTokens().contains(token)) {
            if (!complete()) {
                return false;
            }
            ended = true;
            return true;
        }
        if (ended) {
            return false;
        }
        byte[] bytes = v.rawBytes(token);
        if (bytes == null || bytes.length == 0) {
            return false;
        }
        Machine.Config next = grammar.machine.run(config, bytes, v.isSpecial(token));
        if (next == null) {
            return false;
        }
        config = next;
        return true;
    }

    /** The text so far is a complete document (an end token may come next). */
    public boolean complete() {
        return ended || config.accepting;
    }

    /** Complete, and nothing but an end token may follow. */
    public boolean mustEnd() {
        return ended || (config.accepting && config.threads.length == 0);
    }

    /** An independent matcher at the same place. */
    public Matcher copy() {
        Matcher m = new Matcher(grammar, config);
        m.ended = ended;
        return m;
    }
}
