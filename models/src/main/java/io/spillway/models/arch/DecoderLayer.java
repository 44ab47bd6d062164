package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
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

    /** Index expressions of a layer's fixed splits, built once per model rather than per call. */
    record Slices(int heads, int kvHeads, int headDim, NDIndex queryKeyColumns, NDIndex valueColumns,
                  NDIndex queryHeads, NDIndex keyHeads, NDIndex gateColumns, NDIndex upColumns) {

        static Slices of(ModelConfig c) {
            int qk = c.qSize() + c.kvSize();
            int inter = c.intermediateSize();
            return new Slices(c.numHeads(), c.numKvHeads(), c.headDim(),
                    new NDIndex().addAllDim().addSliceDim(0, qk),
                    new NDIndex().addAllDim().addSliceDim(qk, qk + c.kvSize()),
                    new NDIndex().addAllDim().addSliceDim(0, c.numHeads()),
                    new NDIndex().addAllDim().addSliceDim(c.numHeads(), c.numHeads() + c.numKvHeads()),
                    new NDIndex().addAllDim().addSliceDim(0, inter),
                    new NDIndex().addAllDim().addSliceDim(inter, 2L * inter));
        }
    }

    /** {@code x: [tokens, hidden]} to the layer's output, the same shape. */
    NDArray forward(NDArray x, RotaryEmbedding rope, RotaryEmbedding.Angles angles, StepAttention attention) {
        long tokens = x.getShape().get(0);
        NDArray fused = qkv.apply(inputNorm.apply(x));
        // Q and K heads are adjacent in the fused output: normalize and rotate them together.
        NDArray qk = fused.get(slices.queryKeyColumns()).reshape(tokens, slices.heads() + slices.kvHeads(), slices.headDim());
        if (qkNorm != null) {
            qk = qkNorm.apply(qk);
        }
        qk = rope.apply(qk, angles);
        NDArray v = fused.get(slices.valueColumns()).reshape(tokens, slices.kvHeads(), slices.headDim());
        NDArray attended = attention.attend(index, qk.get(slices.queryHeads()), qk.get(slices.keyHeads()), v);
        NDArray h = x.add(output.apply(attended));

        NDArray gu = gateUp.apply(postNorm.apply(h));
        NDArray gate = gu.get(slices.gateColumns());
        NDArray act = gate.mul(Activation.sigmoid(gate)).mul(gu.get(slices.upColumns()));
        return h.add(down.apply(act));
    }
}
