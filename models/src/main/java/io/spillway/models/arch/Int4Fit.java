package io.spillway.models.arch;

import java.util.List;

/**
 * Whether the int4 kernels can apply a projection, decided from its shape and group size at load:
 * libtorch's weight-only kernel ({@code _weight_int4pack_mm} and its CPU counterpart), whose
 * constraints Spillway's {@code spillway::int4_linear} shares (groups of 32 inputs or more, outputs
 * 16 at a time). libtorch's constraints, as
 * libtorch 2.7 checks them (and a test runs them): a group size of 32, 64, 128 or 256, and output
 * channels a multiple of 16. A larger group splits exactly into kernel groups (repeated scales),
 * so per-channel or 512-wide groups still run on the kernel; anything else is dequantized.
 */
sealed interface Int4Fit {

    /** The group sizes the kernel takes, largest (fewest scales to read) first. */
    List<Integer> KERNEL_GROUPS = List.of(256, 128, 64, 32);

    /** The kernel applies the projection in groups of {@code groupSize}. */
    record Packed(int groupSize) implements Int4Fit {
    }

    /** The kernel cannot: the projection is dequantized to the model's float dtype at load, for this reason. */
    record Dequantized(String reason) implements Int4Fit {
    }

    static Int4Fit of(long outputs, long inputs, int groupSize) {
        if (outputs % 16 != 0) {
            return new Dequantized(outputs + " output channels (the kernel packs them 16 at a time)");
        }
        for (int g : KERNEL_GROUPS) {
            if (groupSize % g == 0 && inputs % g == 0) {
                return new Packed(g);
            }
        }
        return new Dequantized("groups of " + groupSize + " (the kernel's are 32, 64, 128 or 256, or a multiple of one)");
    }
}
