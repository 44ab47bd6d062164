package io.spillway.models.tokenizer;

import java.util.OptionalInt;

/** Text to token ids and back. Implementations are thread-safe. */
public interface TextTokenizer extends AutoCloseable {

    /**
     * @param addSpecialTokens apply the tokenizer's post-processor (e.g. prepend BOS), as
     *                         transformers does for a plain prompt; chat prompts already carry
     *                         their special tokens in the template's text and pass false
     */
    int[] encode(String text, boolean addSpecialTokens);

    String decode(int[] ids, boolean skipSpecialTokens);

    /** Ids the tokenizer can produce (its vocabulary plus added tokens). */
    int vocabSize();

    /** The id of a token written exactly as in the vocabulary (e.g. {@code "<|im_end|>"}). */
    OptionalInt tokenId(String token);

    /** Whether the id is a special added token (control tokens like BOS/EOS and chat markers). */
    boolean isSpecial(int id);

    @Override
    void close();
}
