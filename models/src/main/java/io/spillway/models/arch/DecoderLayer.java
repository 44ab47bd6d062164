package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;

/**
 * The weights of one pre-norm decoder layer, attention then a SwiGLU MLP, each around a residual
 * ({@code decoder.torchscript} runs it). Q, K and V come from one fused projection, gate and up
 * from another: fewer, larger matmuls per step. The RMSNorm weights in front of each are folded into
 * the projections' columns ({@code W diag(w)}), so the norms themselves run unweighted.
 *
 * @param qkv    fused q, k, v projection: {@code [tokens, (heads + 2 kvHeads) * headDim]}, the
 *               softmax scale folded into its query rows
 * @param qkNorm Qwen3's per-head RMSNorm weight over the q and k heads together,
 *               {@code [heads + kvHeads, headDim]}, or null
 * @param output attention output projection
 * @param gateUp fused gate and up projection: {@code [tokens, 2 * intermediate]}
 * @param down   MLP down projection
 */
record DecoderLayer(Projection qkv, NDArray qkNorm, Projection output, Projection gateUp, Projection down) {
}
