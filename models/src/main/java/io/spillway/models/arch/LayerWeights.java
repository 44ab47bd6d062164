package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;

/**
 * The weights of one pre-norm decoder layer, attention then a SwiGLU MLP, each around a residual,
 * as the decoder script takes them: a tuple of these components, in this order. Q, K and V come
 * from one fused projection, gate and up from another: fewer, larger matmuls per step. The RMSNorm
 * weights in front of each are folded into the projections' columns ({@code W diag(w)}), so the
 * norms themselves run unweighted, except in front of an int4 projection (its 4-bit values cannot
 * absorb a per-column factor): that norm keeps its weight. Each weight is in its {@link Projection}'s
 * applied layout; a weight the model does not have is an empty tensor (DJL cannot pass None), and
 * so is an int8 or int4 projection's weight (packed in the model's {@link Int8Weights} or
 * {@link GroupedWeights}; its bias stays here).
 *
 * @param inputNorm  the RMSNorm weight in front of qkv when it is not folded into it, else empty
 * @param qkv        fused q, k, v projection to {@code (heads + 2 kvHeads) * headDim}, the softmax
 *                   scale folded into its query rows
 * @param qkvBias    its bias (Qwen2, attention_bias), or empty
 * @param qkNorm     Qwen3's per-head RMSNorm weight over the q and k heads together,
 *                   {@code [heads + kvHeads, headDim]}, or empty
 * @param output     attention output projection
 * @param outputBias its bias, or empty
 * @param postAttentionNorm the RMSNorm weight in front of gate-up when it is not folded into it, else empty
 * @param gateUp     fused gate and up projection to {@code 2 * intermediate}
 * @param gateUpBias its bias, or empty
 * @param down       MLP down projection
 * @param downBias   its bias, or empty
 */
public record LayerWeights(NDArray inputNorm, NDArray qkv, NDArray qkvBias, NDArray qkNorm, NDArray output, NDArray outputBias,
                           NDArray postAttentionNorm, NDArray gateUp, NDArray gateUpBias, NDArray down, NDArray downBias) {

    /** @param inputNorm, postAttentionNorm the unfolded norms' weights, or null where folded */
    static LayerWeights of(NDArray inputNorm, Projection qkv, NDArray qkNorm, Projection output, NDArray postAttentionNorm,
                           Projection gateUp, Projection down, NDArray none) {
        return new LayerWeights(orNone(inputNorm, none), qkv.applied(), orNone(qkv.bias(), none), orNone(qkNorm, none), output.applied(),
                orNone(output.bias(), none), orNone(postAttentionNorm, none), gateUp.applied(), orNone(gateUp.bias(), none),
                down.applied(), orNone(down.bias(), none));
    }

    private static NDArray orNone(NDArray weight, NDArray none) {
        return weight == null ? none : weight;
    }
}
