package io.spillway.models.tokenizer;

import java.util.Arrays;

/**
 * Turns a growing list of token ids into text deltas, correct for characters split across tokens
 * (a byte-level BPE may spend several tokens on one emoji) and for tokenizers whose decoding of a
 * token depends on its neighbours (SentencePiece's leading spaces).
 *
 * <p>The method is Hugging Face's and vLLM's: decode a short window of already-emitted tokens
 * with and without the new ones, and emit the difference once it no longer ends in an incomplete
 * character (U+FFFD). Cost per token is two decodes of a few tokens, not of the whole output.
 */
public final class IncrementalDetokenizer {

    /** Tokens of context kept before the unread ones, enough for any tokenizer's merge rules. */
    private static final int CONTEXT = 5;
    private static final char INCOMPLETE = '\uFFFD';

    private final TextTokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private int[] tokens;
    private int size;
    private int prefixOffset;
    private int readOffset;

    /**
     * @param prompt the prompt's ids: the last few give the first output token its context, but
     *               are never emitted themselves
     */
    public IncrementalDetokenizer(TextTokenizer tokenizer, int[] prompt, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        int keep = Math.min(prompt.length, CONTEXT);
        this.tokens = Arrays.copyOf(Arrays.copyOfRange(prompt, prompt.length - keep, prompt.length), Math.max(16, keep * 2));
        this.size = keep;
        this.prefixOffset = 0;
        this.readOffset = keep;
    }

    /** Adds one token and returns the text it completes (often empty while a character is split). */
    public String add(int token) {
        if (size == tokens.length) {
            tokens = Arrays.copyOf(tokens, size * 2);
        }
        tokens[size++] = token;
        String prefix = tokenizer.decode(Arrays.copyOfRange(tokens, prefixOffset, readOffset), skipSpecialTokens);
        String full = tokenizer.decode(Arrays.copyOfRange(tokens, prefixOffset, size), skipSpecialTokens);
        if (full.length() <= prefix.length() || full.charAt(full.length() - 1) == INCOMPLETE) {
            return "";
        }
        String delta = full.startsWith(prefix) ? full.substring(prefix.length()) : full.substring(Math.min(prefix.length(), full.length()));
        prefixOffset = readOffset;
        readOffset = size;
        compact();
        return delta;
    }

    /** Text of tokens still held back because they end in an incomplete character. */
    public String flush() {
        if (readOffset == size) {
            return "";
        }
        String prefix = tokenizer.decode(Arrays.copyOfRange(tokens, prefixOffset, readOffset), skipSpecialTokens);
        String full = tokenizer.decode(Arrays.copyOfRange(tokens, prefixOffset, size), skipSpecialTokens);
        readOffset = size;
        return full.length() > prefix.length() ? full.substring(prefix.length()) : "";
    }

    /** Drops tokens before the window so memory stays constant however long the output grows. */
    private void compact() {
        if (prefixOffset > 4 * CONTEXT) {
            int drop = prefixOffset;
            System.arraycopy(tokens, drop, tokens, 0, size - drop);
            size -= drop;
            prefixOffset -= drop;
            readOffset -= drop;
        }
    }
}
