package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.List;

/**
 * One forward pass's attention, prepared for its batch: where every layer writes this step's keys
 * and values, and the plan by which the decoder script's {@code attend_group} reads each sequence's
 * context back. The script receives it as a tuple of these components, in this order; every tensor
 * belongs to the step.
 *
 * @param caches       per layer, the cache tensor {@code [slots, 2, kvHeads, headDim]} (keys at
 *                     index 0 of the second axis, values at 1), written in place
 * @param writeSlots   int64 {@code [tokens]}: the cache slot of each row of the batch
 * @param groups       the batch's rows in order, as groups of sequences (or spans of their
 *                     queries, see {@link AttentionGroup}) with the same query shape
 * @param layerWindows per layer, which of each group's masks (the index of its sliding window
 *                     among the model's distinct ones)
 * @param windows      the model's distinct sliding windows, in tokens (0: the whole context), in
 *                     the order of each group's masks
 */
public record StepAttention(List<NDArray> caches, NDArray writeSlots, List<AttentionGroup> groups, long[] layerWindows, long[] windows) {

    public StepAttention {
        caches = List.copyOf(caches);
        groups = List.copyOf(groups);
        layerWindows = layerWindows.clone();
        windows = windows.clone();
        if (caches.isEmpty() || groups.isEmpty()) {
            throw new IllegalArgumentException("attention over " + caches.size() + " layer caches in " + groups.size()
                    + " groups: it needs at least one of each");
        }
        if (layerWindows.length != caches.size()) {
            throw new IllegalArgumentException(layerWindows.length + " layer windows for " + caches.size() + " layer caches");
        }
        if (writeSlots.getDataType() != DataType.INT64 || writeSlots.getShape().dimension() != 1) {
            throw new IllegalArgumentException("write slots must be int64 [tokens], not " + writeSlots.getDataType() + " "
                    + writeSlots.getShape());
        }
        // The script concatenates the groups' outputs: together they must be the batch's rows, in order.
        long row = 0;
        for (AttentionGroup g : groups) {
            if (g.firstRow() != row) {
                throw new IllegalArgumentException("attention group starts at row " + g.firstRow() + " where the previous ended at " + row);
            }
            if (g.masks().size() != windows.length) {
                throw new IllegalArgumentException("an attention group with " + g.masks().size() + " masks for " + windows.length
                        + " distinct windows");
            }
            row += g.rows();
        }
        if (row != writeSlots.size()) {
            throw new IllegalArgumentException("attention groups span " + row + " rows, the batch has " + writeSlots.size());
        }
        for (int layer = 0; layer < layerWindows.length; layer++) {
            if (layerWindows[layer] < 0 || layerWindows[layer] >= windows.length) {
                throw new IllegalArgumentException("layer " + layer + " reads window " + layerWindows[layer] + " of " + windows.length);
            }
        }
    }

    /** Rows of the batch. */
    public long tokens() {
        return writeSlots.size();
    }
}
