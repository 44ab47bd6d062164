package io.spillway.models.arch;

import io.spillway.models.runtime.ComputeTarget;

/**
 * How the loader lays out every projection weight, which decides the branch of the decoder
 * script's {@code project} that runs (see {@link Projection} for the measurements behind each).
 * Chosen at load from the target; a test overrides it to run a GPU's branch on the CPU.
 */
public enum ProjectionLayout {
    /** The checkpoint's {@code [out, in]} weight, applied with one {@code linear}: a GPU's. */
    LINEAR,
    /**
     * The weight viewed as blocks of output rows, {@code [parts, out / parts, in]}, one block per
     * intra-op thread of the loading thread, applied as one batched matmul: the CPU's. A weight no
     * such count divides (or any weight, with one thread) stays 2-D and takes {@code linear}.
     */
    ROW_BLOCKS;

    /** {@link #LINEAR} on a GPU, {@link #ROW_BLOCKS} on the CPU. */
    public static ProjectionLayout forTarget(ComputeTarget target) {
        return target.isGpu() ? LINEAR : ROW_BLOCKS;
    }
}
