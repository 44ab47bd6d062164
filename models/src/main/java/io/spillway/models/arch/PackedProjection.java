package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.HostStaging;

/**
 * The CPU layout: the weight transposed and split by output columns into {@code parts} contiguous
 * blocks, {@code [parts, in, out / parts]}, applied as one batched matmul.
 *
 * <p>Why: libtorch runs a one-row GEMM ({@code [1, in] x [in, out]}, every decode step at batch 1)
 * on a single thread whatever its thread setting; measured here at 22 GB/s. Split into one block
 * per intra-op thread, the batched matmul runs the blocks in parallel: 31 GB/s at batch 1 and
 * faster at every batch size measured (1 to 64), for a copy of the output when tokens &gt; 1.
 */
public final class PackedProjection implements Projection {

    private final NDArray weight;
    private final NDArray bias;
    private final int parts;
    private final int in;
    private final int out;

    /**
     * @param weight {@code [parts, in, out / parts]}, owned by the model
     * @param bias   {@code [out]} or null
     */
    PackedProjection(NDArray weight, NDArray bias) {
        Shape s = weight.getShape();
        this.weight = weight;
        this.bias = bias;
        this.parts = (int) s.get(0);
        this.in = (int) s.get(1);
        this.out = (int) (s.get(0) * s.get(2));
    }

    /** Packs a logical {@code [out, in]} weight into {@code [parts, in, out / parts]} (a new, contiguous array). */
    static NDArray pack(NDArray logical, int parts) {
        long out = logical.getShape().get(0);
        long in = logical.getShape().get(1);
        // transpose is a view; flatten of a non-contiguous view copies into a fresh contiguous array.
        return logical.reshape(parts, out / parts, in).transpose(0, 2, 1).flatten().reshape(parts, in, out / parts);
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

    @Override
    public NDArray apply(NDArray x) {
        long tokens = x.getShape().get(0);
        NDArray y = x.reshape(1, tokens, in).matMul(weight);
        y = parts == 1 ? y.reshape(tokens, out) : y.transpose(1, 0, 2).reshape(tokens, out);
        return bias == null ? y : y.add(bias);
    }

    @Override
    public NDArray rows(long[] ids, int count, NDManager manager, HostStaging staging) {
        // Row o of the logical weight is column (o % width) of block (o / width).
        long width = out / parts;
        long[] part = new long[count];
        long[] column = new long[count];
        for (int i = 0; i < count; i++) {
            part[i] = ids[i] / width;
            column[i] = ids[i] % width;
        }
        Shape shape = new Shape(count);
        return weight.get(manager, new NDIndex("{}, :, {}",
                staging.longs(manager, part, count, shape), staging.longs(manager, column, count, shape)));
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }
}
