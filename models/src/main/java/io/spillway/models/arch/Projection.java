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
 * {@link ProjectionLayout#ROW_BLOCKS} (the CPU's plain layout): the weight is viewed, without a
 * copy, as {@code parts} blocks of output rows, {@code [parts, out / parts, in]}, and the script
 * picks the kernel by the rows of the pass, as measured on whole SmolLM2-135M decode steps (2 cores, float32,
 * alternating runs):
 * <ul>
 *   <li>One row: the blocks as one batched matmul with the weight on the left. libtorch runs the
 *       blocks on separate threads, each streaming contiguous rows, where the plain form runs a
 *       one-row GEMM on a single thread: the step's matmuls took 13.8 ms against 19.2 for a
 *       transposed packed layout and 23-25 for plain {@code x W^T}; oneDNN's linear was about 28 %
 *       slower, its prepacked form ~25 %, and MKL's packed {@code _mkl_linear} is not split across
 *       two threads.
 *   <li>Exactly sixteen and thirty-two rows: the batched matmul too, where MKL has kernels for
 *       those widths: 16-row decode steps took medians of 89, 117 and 100 ms in three alternating
 *       runs against 130, 134 and 108 with oneDNN, a 16-token prefill 79 against 95; at 32 rows
 *       173 and 103 ms (decode, prefill) against 187 and 115, even (153 and 151) in a third run.
 *       The choice is by the rows given: 29 to 31 are padded to 32 for oneDNN.
 *   <li>Other counts from two rows, in float32: oneDNN's {@code _linear_pointwise} over the plain
 *       {@code [out, in]} weight (in 16 bits the batched matmul stays). Steps at 2, 4, 8 and 15 rows
 *       took 25-27, 32-35, 37-48 and 52-55 ms against 34-39, 38-42, 56-70 and 130-134 with the
 *       batched matmul, which from three rows repacks the weight in every call; 17 rows 105-117
 *       against 121-123, 33 rows 139-167 against 183-200, 64 rows 244-270 against 287-310, prefill
 *       chunks of 128, 256 and 512 tokens 160-179, 320-485 and 618-713 ms against 261-271, 494-664
 *       and 1,014-1,113.
 * </ul>
 * oneDNN keeps a primitive for every row count it meets (its cache holds 1,024 by default), each
 * holding scratch of about rows x out floats: over a server's varying rows that held gigabytes. So
 * from seventeen rows the script pads the rows up to one of eight sizes per power of two (18, 20,
 * ..., 32, 36, ..., 64, 72, ...: at most an eighth more rows), which bounds the primitives to a few
 * dozen per weight shape and their scratch to about 4 bytes x out x the sum of the sizes met (about
 * 3,000 rows' worth up to 256 rows, the CPU's default step budget; 12,600 up to 1,024). The LM head,
 * whose out is the vocabulary, keeps the batched matmul from sixteen rows, where that would reach
 * gigabytes (measured over plain weights to 1,200 rows; the packed copy below, LM head included,
 * was measured to 256 rows, the CPU's default step budget). Over every count from 2 to 256 rows a
 * SmolLM2-135M model's resident memory levelled at 1.27-1.28 GB, against 1.14-1.21 GB with the
 * batched matmul from sixteen rows.
 *
 * <p>{@link ProjectionLayout#ROW_BLOCKS_AND_ONEDNN} (the CPU's default in float32) adds to the row
 * blocks every projection packed once at load in oneDNN's blocked layout ({@link OneDnnWeights}),
 * which every pass of two rows or more multiplies by, with the same call and the same padded rows:
 * over a plain weight oneDNN reorders it in every call. All projections of a SmolLM2-135M step
 * (2 cores, medians of 11) took 14-15 ms packed at 4 rows against 18-23 over the plain weight,
 * 17-19 at 8 against 27-30, 23-24 at 16 against 51-58 (the batched matmul), 54-57 at 64 against
 * 92; the LM head alone 2.4 ms at 4 rows against 4.5, 4.0 at 16 against 10.2. Whole steps,
 * alternating in one process on a busy day: decode at 4, 8, 16, 32 and 64 rows 40, 46, 69, 114 and
 * 232 ms against 52, 67, 109, 182 and 304; prefill chunks of 16 and 128 tokens 45 and 177 against 64
 * and 221, 256 and 512 even within the noise. One row keeps the batched matmul (the projections took
 * 14.1 ms packed against 11.8), so the packed weights are a second copy, which
 * {@link ProjectionLayout#ROW_BLOCKS} saves. libtorch 2.7.1 packs some shapes wrongly (a 100 x 30
 * weight at any batch-size hint, 64 x 64 and 128 x 256 at hints below 16, 200 x 30 and 100 x 64 at
 * 16: errors of 5-30 on outputs of order 10); each such packing was wrong at every row count tried
 * and each other one right at all of them, so the packer checks every packing against
 * {@code linear} at three row counts and refuses a wrong one, whose projection then runs as in
 * {@link ProjectionLayout#ROW_BLOCKS} ({@code OneDnnPackingTest} sweeps the row counts the decoder
 * sends up to 1,024 both ways). Measured on one 2-core machine kind; the script needs a libtorch
 * built with oneDNN to compile.
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
     * A projection whose weight is packed in the model's {@link Int8Weights} or {@link GroupedWeights}:
     * the script takes {@code none} for the weight and applies the packed entry, then adds {@code
     * bias} ({@code [out]}, owned by the model, or null).
     */
    static Projection packed(NDArray none, NDArray bias) {
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
