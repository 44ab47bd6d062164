package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.spillway.models.runtime.HostStaging;

/**
 * A linear layer {@code y = x W^T + b} whose weight is stored in whichever layout is fastest on the
 * device (see {@link PackedProjection} and {@link DenseProjection}). Weights belong to the model's
 * manager; results belong to the input's manager.
 */
public interface Projection {

    /** {@code x: [tokens, in]} to {@code [tokens, out]}. */
    NDArray apply(NDArray x);

    /**
     * Rows of the logical {@code [out, in]} weight, as an embedding lookup: a tied LM head serves as
     * the token embedding without a second copy of the matrix.
     *
     * @param ids     row indices; the first {@code count} are used
     * @param staging where the index tensors are staged
     * @return {@code [count, in]}, attached to {@code manager}
     */
    NDArray rows(long[] ids, int count, NDManager manager, HostStaging staging);

    int inFeatures();

    int outFeatures();
}
