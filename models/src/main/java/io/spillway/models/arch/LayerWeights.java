package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;

/**
 * The weights of one pre-norm decoder layer, attention then a SwiGLU MLP, each around a residual,
 * as the decoder script takes them: a tuple of these components, in this order. Q, K and V come
 * from one fused projection, gate and up from another: fewer, larger matmuls per step. The RMSNorm
 * weights in front of each are folded into the projections' columns ({@code W diag(w)}), so the
 * norms themselves run unweighted. Each weight is in its {@link Projection}'s applied layout; a
 * weight the model does not have is an empty tensor (DJL cannot pass None), and so is an int8
 * projection's weight and bias: both are packed in the model's {@link Int8Weights}.
 *
 * @param qkv        fused q, k, v projection to {@code (heads + 2 kvHeads) * headDim}, the softmax
 *                   scale folded into its query rows
 * @param qkvBias    its bias (Qwen2, attention_bias), or empty
 * @param qkNorm     Qwen3's per-head RMSNorm weight over the q and k heads together,
 *                   {@code [heads + kvHeads, headDim]}, or empty
 * @param output     attention output projection
 * @param outputBias its bias, or empty
 * @param gateUp     fused gate and up projection to {@code 2 * intermediate}
 * @param gateUpBias its bias, or empty
 * @param down       MLP down projection
 * @param downBias   its bias, or empty
 */
public record LayerWeights(NDArray qkv, NDArray qkvBias, NDArray qkNorm, NDArray output, NDArray outputBias,
                           NDArray gateUp, NDArray gateUpBias, NDArray down, NDArray downBias) {

    static LayerWeights of(Projection qkv, NDArray qkNorm, Projection output, Projection gateUp, Projection down, NDArray none) {
        return new LayerWeights(qkv.applied(), orNone(qkv.bias(), none), orNone(qkNorm, none), output.applied(),
                orNone(output.bias(), none), gateUp.applied(), orNone(gateUp.bias(), none), down.applied(), orNone(down.bias(), none));
    }

    private static NDArray orNone(NDArray weight, NDArray none) {
        return weight == null ? none : weight;
    }
}
