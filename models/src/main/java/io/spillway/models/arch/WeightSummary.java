package io.spillway.models.arch;

/**
 * What a loaded model's weights are, for the load log and {@code /v1/models}.
 *
 * @param format how the weights are stored, e.g. {@code float32} or
 *               {@code int8 (per-channel asymmetric, 127 levels; LM head int8, embeddings int8)}
 * @param bytes       bytes held by the weights (projections with their scales and biases, embedding,
 *                    norms; not RoPE tables or KV cache)
 * @param kernel      what applies the projections
 * @param unstreamed  of {@code bytes}, those no pass streams whole: a second copy of projections a
 *                    pass reads instead of the first ({@link OneDnnWeights}), and an embedding table
 *                    that is not also the LM head, of which a pass gathers only its tokens' rows; a
 *                    pass's bandwidth floor is {@code bytes - unstreamed}
 */
public record WeightSummary(String format, long bytes, String kernel, long unstreamed) {

    /** Bytes of weights a pass streams at most: what is held less what it never reads whole. */
    public long streamedBytes() {
        return bytes - unstreamed;
    }

    /** One line: {@code int8 (...), 171.3 MB of weights, kernel fbgemm ...}. */
    public String describe() {
        return String.format(java.util.Locale.ROOT, "%s, %.1f MB of weights, kernel %s", format, bytes / 1e6, kernel);
    }
}
