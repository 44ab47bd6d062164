package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;

/** One forward pass's attention, prepared for its batch. */
public interface StepAttention {

    /**
     * Stores this step's keys and values of {@code layer} in the cache, then attends every query
     * row over its own sequence's cached context (causally, and within the layer's sliding window).
     *
     * @param q [tokens, heads, headDim], already rotated and already multiplied by the softmax
     *          scale {@code 1/sqrt(headDim)} (models fold it into their query weights)
     * @param k [tokens, kvHeads, headDim], already rotated
     * @param v [tokens, kvHeads, headDim]
     * @return [tokens, heads * headDim] in flat batch order
     */
    NDArray attend(int layer, NDArray q, NDArray k, NDArray v);
}
