package io.spillway.models.arch;

import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.NativeOperators;

/**
 * Whose kernels run a model's quantized projections, each packed at load in that kernel's layout: an
 * int4 checkpoint's (the script's {@code Int4Packer} takes it as its {@code QuantizedKernels} Enum,
 * checked against this) and int8 on load.
 */
public enum QuantizedKernels {
    /**
     * libtorch's: its weight-only int4 kernels ({@code _weight_int4pack_mm} and its CPU counterpart,
     * bfloat16 activations) and fbgemm's dynamic quantized linear for int8 (one scale per output channel).
     */
    LIBTORCH,
    /**
     * Spillway's native {@code spillway::int4_linear} and {@code spillway::int8_linear} (int8 in blocks
     * of 32 inputs with a scale each): float32 activations quantized per 32 inputs to an int8 and a
     * residual int8, products in integers.
     */
    SPILLWAY;

    /** SPILLWAY for a float32 model on a CPU where Spillway's quantized kernels run, LIBTORCH otherwise. */
    public static QuantizedKernels forTarget(ComputeTarget target) {
        return NativeOperators.serveQuantized(target) ? SPILLWAY : LIBTORCH;
    }
}
