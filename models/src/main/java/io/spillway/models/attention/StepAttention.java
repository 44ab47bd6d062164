package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * One forward pass's attention, prepared for its batch: where every layer writes this step's keys
 * and values, and the plan by which the decoder script's {@code attend_group} reads each sequence's
 * context back. Every tensor belongs to the step.
 *
 * @param caches       per layer, the cache tensor {@code [slots, 2, kvHeads, headDim]} (keys at
 *                     index 0 of the second axis, values at 1), written in place
 * @param writeSlots   int64 {@code [tokens]}: the cache slot of each row of the batch
 * @param groupTensors per group of sequences with the same query shape, {@link #TENSORS_PER_GROUP}
 *                     index tensors (context slots, query rows, valid rows; empty when not needed)
 *                     then one additive mask per distinct sliding window (empty when none is needed)
 * @param groupInts    per group, {@link #INTS_PER_GROUP} numbers: sequences, queries per sequence,
 *                     context length, first row, rows
 * @param layerWindows per layer, the index of its sliding window among the distinct ones
 * @param windows      how many distinct windows (masks per group)
 */
public record StepAttention(List<NDArray> caches, NDArray writeSlots, List<NDArray> groupTensors, long[] groupInts,
                            long[] layerWindows, int windows) {

    public static final int TENSORS_PER_GROUP = 3;
    public static final int INTS_PER_GROUP = 5;
}
