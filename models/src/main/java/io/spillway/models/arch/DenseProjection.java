package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.HostStaging;

/**
 * The GPU layout: the checkpoint's own {@code [out, in]} weight applied with {@code linear}, which
 * cuBLAS runs at full width with the bias fused. Also the layout of a separate embedding table.
 */
public final class DenseProjection implements Projection {

    private final NDArray weight;
    private final NDArray bias;

    /**
     * @param weight {@code [out, in]}, owned by the model
     * @param bias   {@code [out]} or null
     */
    DenseProjection(NDArray weight, NDArray bias) {
        this.weight = weight;
        this.bias = bias;
    }

    @Override
    public NDArray apply(NDArray x) {
        return x.getNDArrayInternal().linear(x, weight, bias).singletonOrThrow();
    }

    @Override
    public NDArray rows(long[] ids, int count, NDManager manager, HostStaging staging) {
        return weight.get(manager, new NDIndex("{}", staging.longs(manager, ids, count, new Shape(count))));
    }

    @Override
    public int inFeatures() {
        return (int) weight.getShape().get(1);
    }

    @Override
    public int outFeatures() {
        return (int) weight.getShape().get(0);
    }
}
