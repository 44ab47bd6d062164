package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * {@code x / sqrt(mean(x^2) + eps) * weight} over the last axis. Like transformers, the statistics
 * are taken in float32 when the model runs in a 16-bit dtype, then cast back before the weight.
 *
 * <p>When a norm feeds a projection, its weight is folded into the projection's columns at load
 * ({@code W diag(w)}), and the norm itself runs unweighted: one op fewer per norm per step.
 */
public final class RmsNorm {

    private static final int[] LAST_AXIS = {-1};

    private final NDArray weight;
    private final NDArray eps;
    private final boolean upcast;
    private final DataType dtype;

    /**
     * @param weight broadcastable to the normalized input's trailing axes, or null when it was
     *               folded into the next projection
     * @param eps    a float32 scalar
     * @param dtype  the model dtype
     */
    RmsNorm(NDArray weight, NDArray eps, DataType dtype) {
        this.weight = weight;
        this.eps = eps;
        this.dtype = dtype;
        this.upcast = dtype != DataType.FLOAT32;
    }

    public NDArray apply(NDArray x) {
        NDArray h = upcast ? x.toType(DataType.FLOAT32, false) : x;
        NDArray normed = h.div(h.square().mean(LAST_AXIS, true).add(eps).sqrt());
        if (upcast) {
            normed = normed.toType(dtype, false);
        }
        return weight == null ? normed : normed.mul(weight);
    }
}
