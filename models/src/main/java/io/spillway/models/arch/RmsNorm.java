package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * {@code x / sqrt(mean(x^2) + eps) * weight} over the last axis. Like transformers, the statistics
 * are taken in float32 when the model runs in a 16-bit dtype, then cast back before the weight.
 */
public final class RmsNorm {

    private static final int[] LAST_AXIS = {-1};

    private final NDArray weight;
    private final NDArray eps;
    private final boolean upcast;
    private final DataType dtype;

    /**
     * @param weight broadcastable to the normalized input's trailing axes, in the model dtype
     * @param eps    a float32 scalar
     */
    RmsNorm(NDArray weight, NDArray eps) {
        this.weight = weight;
        this.eps = eps;
        this.dtype = weight.getDataType();
        this.upcast = dtype != DataType.FLOAT32;
    }

    public NDArray apply(NDArray x) {
        NDArray h = upcast ? x.toType(DataType.FLOAT32, false) : x;
        NDArray normed = h.div(h.square().mean(LAST_AXIS, true).add(eps).sqrt());
        return (upcast ? normed.toType(dtype, false) : normed).mul(weight);
    }
}
