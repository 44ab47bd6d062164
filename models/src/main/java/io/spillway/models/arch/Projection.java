package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * The weight of a linear layer {@code y = x W^T + b}, in the layout the decoder script's
 * {@code project} applies ({@code decoder.torchscript}).
 *
 * <p>The {@link ProjectionLayout} chosen at load decides {@code parts}. {@link ProjectionLayout#LINEAR}
 * (a GPU's, {@code parts == 1}): the script applies the checkpoint's {@code [out, in]} weight with
 * one {@code linear} call, which cuBLAS runs at full width with the bias fused.
 * {@link ProjectionLayout#ROW_BLOCKS} (the CPU's): the weight is viewed, without a copy, as
 * {@code parts} blocks of output rows,
 * {@code [parts, out / parts, in]}, and applied as one batched matmul with the weight on the left:
 * libtorch runs the blocks on separate threads, each streaming contiguous rows, where the plain
 * form runs a one-row GEMM (every batch-1 decode step) on a single thread. Measured here on a
 * SmolLM2-135M step's matmuls (2 cores): 13.8 ms against 19.2 ms for a transposed packed layout and
 * 23-25 ms for plain {@code x W^T}, and ahead at every batch size up to 64. At batch 1 it also
 * beat oneDNN's {@code _linear_pointwise} (~25 % slower per call) and MKL's packed
 * {@code _mkl_linear} (fast on one thread, but not split across two), and it streams each weight
 * at 75-100 % of the rate libtorch sums the same tensor. From three rows oneDNN's prepacked
 * linear is faster (half the time at 16 rows), but libtorch 2.7.1's packing gives wrong products
 * for some weight shapes (see the README's known limits), so it is not used.
 *
 * <p>The weight belongs to the model's manager.
 */
public final class Projection {

    private final NDArray weight;
    private final NDArray applied;
    private final NDArray bias;

    /**
     * @param weight {@code [out, in]}, owned by the model
     * @param bias   {@code [out]} or null
     * @param parts  row blocks to split the matmul into (1 for a single {@code linear})
     */
    Projection(NDArray weight, NDArray bias, int parts) {
        Shape s = weight.getShape();
        long out = s.get(0);
        if (out % parts != 0) {
            throw new IllegalArgumentException(parts + " parts do not divide " + out + " rows");
        }
        this.weight = weight;
        this.bias = bias;
        this.applied = parts == 1 ? weight : weight.reshape(parts, out / parts, s.get(1));
    }

    /**
     * A projection whose weight is packed in the model's {@link Int8Weights}: the script takes
     * {@code none} for the weight and applies the packed entry, then adds {@code bias}
     * ({@code [out]}, owned by the model, or null).
     */
    static Projection packed(NDArray none, NDArray bias) {
        return new Projection(none, bias);
    }

    /**
     * A projection whose weight is in the model's {@link Int4Weights}: the script takes {@code none}
     * for the weight and applies the int4 entry, then adds {@code bias} ({@code [out]}, owned by
     * the model, or null).
     */
    static Projection int4(NDArray none, NDArray bias) {
        return new Projection(none, bias);
    }

    private Projection(NDArray applied, NDArray bias) {
        this.weight = null;
        this.bias = bias;
        this.applied = applied;
    }

    /** The largest number of parts, at most {@code threads}, that divides {@code out}. */
    static int partsFor(long out, int threads) {
        for (int p = Math.max(1, threads); p > 1; p--) {
            if (out % p == 0) {
                return p;
            }
        }
        return 1;
    }

    /** The checkpoint's {@code [out, in]} matrix (a tied LM head's rows are the token embeddings); null when packed. */
    NDArray weight() {
        return weight;
    }

    /** What the script's {@code project} takes: the 2-D weight, or its 3-D view as row blocks. */
    NDArray applied() {
        return applied;
    }

    /** {@code [out]}, or null. */
    NDArray bias() {
        return bias;
    }
}
