package io.spillway.models.arch;

/**
 * What a loaded model's weights are, for the load log and {@code /v1/models}.
 *
 * @param format how the weights are stored, e.g. {@code float32} or
 *               {@code int8 (per-channel asymmetric, 127 levels; LM head int8, embeddings int8)}
 * @param bytes  bytes held by the weights (projections with their scales and biases, embedding,
 *               norms; not RoPE tables or KV cache)
 * @param kernel what applies the projections
 */
public record WeightSummary(String format, long bytes, String kernel) {

    /** One line: {@code int8 (...), 171.3 MB of weights, kernel fbgemm ...}. */
    public String describe() {
        return String.format(java.util.Locale.ROOT, "%s, %.1f MB of weights, kernel %s", format, bytes / 1e6, kernel);
    }
}
