package io.spillway.server.wire;

/** The one check of token ids against a model's vocabulary, wherever ids arrive. */
public final class TokenIds {

    private TokenIds() {
    }

    /**
     * @param name  how the message refers to the ids ("prompt[1]", "logit_bias")
     * @param param the request parameter the error names
     */
    public static void requireInVocabulary(int[] ids, int vocabSize, String name, String param) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw OpenAiException.invalid("Invalid '" + name + "': token ids must be integers in [0, " + vocabSize + "), found "
                        + ids[i] + " at position " + i + ".", param);
            }
        }
    }
}
