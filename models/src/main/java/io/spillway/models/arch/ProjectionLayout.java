package io.spillway.models.arch;

import io.spillway.models.runtime.ComputeTarget;

/**
 * How the loader lays out every projection weight, which decides the branch of the decoder
 * script's {@code project} that runs (see {@link Projection} for the measurements behind each).
 * Chosen at load from the target unless {@code model.projections} names one (a row-block layout only
 * on the CPU); a test also takes LINEAR to run a GPU's branch on the CPU.
 */
public enum ProjectionLayout {
    /** The checkpoint's {@code [out, in]} weight, applied with one {@code linear}: a GPU's. */
    LINEAR,
    /**
     * The weight viewed as blocks of output rows, {@code [parts, out / parts, in]}, one block per
     * intra-op thread of the loading thread, applied as one batched matmul, or by oneDNN's linear
     * (see {@link Projection}): the CPU's plain layout. A weight no such count divides (or any
     * weight, with one thread) stays 2-D and takes {@code linear}.
     */
    ROW_BLOCKS,
    /**
     * {@link #ROW_BLOCKS}, and beside them a float32 model's projections (layers and LM head) packed
     * in oneDNN's blocked layout ({@link OneDnnWeights}) for passes of two rows or more: the CPU's.
     * The packed copy is the projections' bytes again; {@link #ROW_BLOCKS} saves them, at the speed
     * of batched decode steps and prefill. A 16-bit or quantized model loads as in {@link #ROW_BLOCKS}.
     */
    ROW_BLOCKS_AND_ONEDNN;

    /** {@link #LINEAR} on a GPU, {@link #ROW_BLOCKS_AND_ONEDNN} on the CPU. */
    public static ProjectionLayout forTarget(ComputeTarget target) {
        return target.isGpu() ? LINEAR : ROW_BLOCKS_AND_ONEDNN;
    }

    /** Whether float projection weights are viewed as row blocks (on the CPU). */
    public boolean rowBlocks() {
        return this != LINEAR;
    }

    /**
     * The layout a configuration names: auto (the target's, null here), linear, row-blocks or
     * row-blocks+onednn.
     */
    public static ProjectionLayout parse(String text) {
        return switch (text) {
            case "auto" -> null;
            case "linear" -> LINEAR;
            case "row-blocks" -> ROW_BLOCKS;
            case "row-blocks+onednn" -> ROW_BLOCKS_AND_ONEDNN;
            default -> throw new IllegalArgumentException("projections must be auto, linear, row-blocks or row-blocks+onednn, not '"
                    + text + "'");
        };
    }
}
