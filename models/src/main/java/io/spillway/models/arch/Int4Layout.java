package io.spillway.models.arch;

import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;

/**
 * How an int4 checkpoint's projections are packed at load, as the script's {@code Int4Packer} takes
 * it (its {@code Int4Layout} Enum, checked against this).
 */
public enum Int4Layout {
    /** For libtorch's weight-only kernels ({@code _weight_int4pack_mm} and its CPU counterpart), bfloat16 activations. */
    LIBTORCH,
    /**
     * For Spillway's native {@code spillway::int4_linear}: float32 activations quantized to int8 per
     * 32 inputs, products in integers.
     */
    SPILLWAY;

    /** SPILLWAY for a float32 model on a CPU where {@code spillway::int4_linear} runs, LIBTORCH otherwise. */
    public static Int4Layout forTarget(ComputeTarget target) {
        return NativeOperators.serveInt4(target) ? SPILLWAY : LIBTORCH;
    }
}
