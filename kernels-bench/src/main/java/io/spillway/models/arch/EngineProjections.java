package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;

/**
 * Builds projections exactly as the weight loader does (in the model's package, so benchmarks run the
 * engine's own {@link Projection}, not a copy of it).
 */
public final class EngineProjections {

    private EngineProjections() {
    }

    /** The projection the loader would build for {@code weight} on a CPU with {@code threads} intra-op threads. */
    public static Projection cpu(NDArray weight, int threads) {
        return new Projection(weight, null, Projection.partsFor(weight.getShape().get(0), threads));
    }
}
