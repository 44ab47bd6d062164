package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;

/**
 * The decoder's own kernels for benchmarks (in the model's package, so that they time the code the
 * engine runs, not a copy of it): the weight layout the loader builds. The script's functions are
 * {@link DecoderScript#compile}'s root classes.
 */
public final class EngineKernels {

    private EngineKernels() {
    }

    /** The weight as the loader lays it out for a CPU with {@code threads} intra-op threads. */
    public static NDArray cpuLayout(NDArray weight, int threads) {
        return new Projection(weight, null, Projection.partsFor(weight.getShape().get(0), threads)).applied();
    }
}
