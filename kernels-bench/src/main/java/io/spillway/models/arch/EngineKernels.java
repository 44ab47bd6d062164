package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.runtime.TorchScriptModule;

/**
 * The decoder's own kernels for benchmarks (in the model's package, so that they time the code the
 * engine runs, not a copy of it): the weight layout the loader builds and the script's functions.
 */
public final class EngineKernels {

    private EngineKernels() {
    }

    /** The weight as the loader lays it out for a CPU with {@code threads} intra-op threads. */
    public static NDArray cpuLayout(NDArray weight, int threads) {
        return new Projection(weight, null, Projection.partsFor(weight.getShape().get(0), threads)).applied();
    }

    /** The decoder script with {@code rootClass} ({@code Decoder}, {@code Projector} or {@code Attention}) as its module. */
    public static TorchScriptModule script(NDManager manager, String rootClass) {
        return TorchScriptModule.compile(manager, rootClass, TorchScriptModule.resource(DecoderModel.class, DecoderModel.SCRIPT));
    }
}
