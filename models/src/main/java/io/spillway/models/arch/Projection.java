package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.HostStaging;

/**
 * A linear layer {@code y = x W^T + b} over the checkpoint's own {@code [out, in]} weight.
 *
 * <p>On a GPU ({@code parts == 1}) it is one {@code linear} call, which cuBLAS runs at full width
 * with the bias fused. On the CPU the weight is viewed, without a copy, as {@code parts} blocks of
 * output rows, {@code [parts, out / parts, in]}, and applied as one batched matmul with the weight
 * on the left: libtorch runs the blocks on separate threads, each streaming contiguous rows. The
 * plain form runs a one-row GEMM (every batch-1 decode step) on a single thread. Measured here on
 * a SmolLM2-135M step's matmuls (2 cores): 13.8 ms against 19.2 ms for a transposed packed layout
 * and 23-25 ms for plain {@code x W^T}, and ahead at every batch size up to 64.
 *
 * <p>The weight belongs to the model's manager; results belong to the input's manager.
 */
public final class Projection {

    private final NDArray weight;
    private final NDArray blocks;
    private final NDArray bias;
    private final int parts;
    private final int in;
    private final int out;

    /**
     * @param weight {@code [out, in]}, owned by the model
     * @param bias   {@code [out]} or null
     * @param parts  row blocks to split the matmul into (1 for a single {@code linear})
     */
    Projection(NDArray weight, NDArray bias, int parts) {
        Shape s = weight.getShape();
        this.out = (int) s.get(0);
        this.in = (int) s.get(1);
        if (out % parts != 0) {
            throw new IllegalArgumentException(parts + " parts do not divide " + out + " rows");
        }
        this.weight = weight;
        this.bias = bias;
        this.parts = parts;
        this.blocks = parts == 1 ? null : weight.reshape(parts, out / parts, in);
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

    /** {@code x: [tokens, in]} to {@code [tokens, out]}. */
    public NDArray apply(NDArray x) {
        if (parts == 1) {
            return x.getNDArrayInternal().linear(x, weight, bias).singletonOrThrow();
        }
        long tokens = x.getShape().get(0);
        // [parts, out/parts, in] x [1, in, tokens] -> [parts, out/parts, tokens] -> [tokens, out].
        // The right operand must be this transposed view: measured on libtorch 2.7.1, a contiguous
        // [1, in, 1] (or a 2-D [in, 1], which matmul folds into one GEMV) takes 3x longer.
        NDArray y = blocks.matMul(x.reshape(1, tokens, in).transpose(0, 2, 1));
        // DJL gives a result to its left operand's manager, here the model's: the caller owns it.
        y.attach(x.getManager());
        NDArray result = tokens == 1 ? y.reshape(1, out) : y.transpose(2, 0, 1).reshape(tokens, out);
        return bias == null ? result : result.add(bias);
    }

    /**
     * Rows of the weight, as an embedding lookup: a tied LM head serves as the token embedding
     * without a second copy of the matrix.
     *
     * @param ids     row indices; the first {@code count} are used
     * @param staging where the index tensor is staged
     * @return {@code [count, in]}, attached to {@code manager}
     */
    public NDArray rows(long[] ids, int count, NDManager manager, HostStaging staging) {
        return weight.get(manager, new NDIndex("{}", staging.longs(manager, ids, count, new Shape(count))));
    }

    public int inFeatures() {
        return in;
    }

    public int outFeatures() {
        return out;
    }
}
