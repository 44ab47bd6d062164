package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Activation;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.checkpoint.ModelConfig;

/**
 * One pre-norm decoder layer: attention then a SwiGLU MLP, each around a residual. Q, K and V come
 * from one fused projection, gate and up from another: fewer, larger matmuls per step.
 *
 * @param index     layer number, used to find its KV cache and sliding window
 * @param inputNorm RMSNorm before attention
 * @param qkv       fused q, k, v projection: {@code [tokens, (heads + 2 kvHeads) * headDim]}
 * @param qkNorm    Qwen3's per-head RMSNorm over the q and k heads together, or null
 * @param output    attention output projection
 * @param postNorm  RMSNorm before the MLP
 * @param gateUp    fused gate and up projection: {@code [tokens, 2 * intermediate]}
 * @param down      MLP down projection
 */
record DecoderLayer(int index, RmsNorm inputNorm, Projection qkv, RmsNorm qkNorm, Projection output,
                    RmsNorm postNorm, Projection gateUp, Projection down, Slices slices) {

    /** Where the fused outputs split: computed once per model. */
    record Slices(int heads, int kvHeads, int headDim, long[] qkFromV, long[] qFromK, int intermediate) {

        static Slices of(ModelConfig c) {
            return new Slices(c.numHeads(), c.numKvHeads(), c.headDim(),
                    new long[] {c.qSize() + c.kvSize()}, new long[] {c.numHeads()}, c.intermediateSize());
        }
    }

    /** {@code x: [tokens, hidden]} to the layer's output, the same shape. */
    NDArray forward(NDArray x, RotaryEmbedding rope, RotaryEmbedding.Angles angles, StepAttention attention) {
        long tokens = x.getShape().get(0);
        NDList qkAndV = qkv.apply(inputNorm.apply(x)).split(slices.qkFromV(), 1);
        // Q and K heads are adjacent in the fused output: normalize and rotate them together.
        NDArray qk = qkAndV.get(0).reshape(tokens, slices.heads() + slices.kvHeads(), slices.headDim());
        if (qkNorm != null) {
            qk = qkNorm.apply(qk);
        }
        NDList qAndK = rope.apply(qk, angles).split(slices.qFromK(), 1);
        NDArray v = qkAndV.get(1).reshape(tokens, slices.kvHeads(), slices.headDim());
        NDArray h = x.add(output.apply(attention.attend(index, qAndK.get(0), qAndK.get(1), v)));

        NDList gateAndUp = gateUp.apply(postNorm.apply(h)).split(2, 1);
        NDArray gate = gateAndUp.get(0);
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(gateAndUp.get(1));
        return h.add(down.apply(act));
    }
}
