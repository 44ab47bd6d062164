package io.spillway.models.kv;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.ComputeTarget;

/**
 * The KV cache's memory: per layer, one preallocated tensor of {@code [slots, 2, kvHeads, headDim]}
 * where slot = block * blockSize + offset and index 0/1 of the second axis holds the key/value.
 * Keys and values of a token sit side by side so a layer's cache is written with one index_put and
 * read with one gather.
 *
 * <p>Which blocks belong to which sequence is not this class's business: block tables live with
 * the sequences, and allocation with {@link KvCacheManager}.
 */
public final class PagedKvCache implements AutoCloseable {

    private final KvCacheSpec spec;
    private final NDManager manager;
    private final NDArray[] layers;

    private PagedKvCache(KvCacheSpec spec, NDManager manager, NDArray[] layers) {
        this.spec = spec;
        this.manager = manager;
        this.layers = layers;
    }

    /** Allocates and zeroes the whole cache on {@code device}; it lives until {@link #close}. */
    public static PagedKvCache allocate(KvCacheSpec spec, Device device, NDManager parent) {
        NDManager manager = parent.newSubManager(device);
        try {
            Shape shape = new Shape(spec.slots(), 2, spec.numKvHeads(), spec.headDim());
            NDArray[] layers = new NDArray[spec.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                // Zeroed: the null block must read as zeros, and no slot may ever hold NaN.
                // A bfloat16 cache is a container of bfloat16 bits (ComputeTarget.heldAs); zero is zero in both.
                layers[i] = manager.zeros(shape, ComputeTarget.heldAs(spec.dtype()));
            }
            return new PagedKvCache(spec, manager, layers);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    public KvCacheSpec spec() {
        return spec;
    }

    /** One layer's cache tensor. Callers index into it; results must go to their own step manager. */
    public NDArray layer(int layer) {
        return layers[layer];
    }

    @Override
    public void close() {
        manager.close();
    }
}
