package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.List;

/**
 * One group of a step's attention plan: sequences with the same query shape, attended together by
 * the decoder script's {@code attend_group}. The script receives it as a tuple of these components,
 * in this order; every tensor belongs to the step.
 *
 * @param contextSlots  int64 {@code [sequences * contextLength]}: the cache slot of each sequence's
 *                      every context position (past a shorter sequence's end, slot 0: the null block)
 * @param queryRows     int64 {@code [sequences * queries]}: the batch row that feeds each padded
 *                      query, or empty when the group's queries are dense (no padding)
 * @param validRows     int64 {@code [rows]}: which padded query rows are real, or empty when dense
 * @param masks         per distinct sliding window of the model, an additive mask that broadcasts
 *                      over the scores, or empty where none is needed
 * @param sequences     sequences in the group
 * @param queries       queries per sequence, padded to the longest
 * @param contextLength context per sequence, padded to the longest
 * @param firstRow      the batch row of the group's first token
 * @param rows          batch rows the group spans
 */
public record AttentionGroup(NDArray contextSlots, NDArray queryRows, NDArray validRows, List<NDArray> masks,
                             int sequences, int queries, int contextLength, int firstRow, int rows) {

    public AttentionGroup {
        masks = List.copyOf(masks);
        if (sequences < 1 || queries < 1 || contextLength < 1 || firstRow < 0 || rows < 1 || rows > sequences * queries) {
            throw new IllegalArgumentException("attention group of " + sequences + " sequences, " + queries + " queries, context "
                    + contextLength + ", rows " + firstRow + "+" + rows + ": every count must be positive and the rows at most"
                    + " sequences * queries");
        }
        requireIndex("context slots", contextSlots, (long) sequences * contextLength, false);
        boolean dense = rows == sequences * queries;
        requireIndex("query rows", queryRows, (long) sequences * queries, dense);
        requireIndex("valid rows", validRows, rows, dense);
        if (masks.isEmpty()) {
            throw new IllegalArgumentException("attention group without masks: it needs one per distinct sliding window, even if empty");
        }
        long scores = (long) sequences * queries * contextLength;
        for (int w = 0; w < masks.size(); w++) {
            long size = masks.get(w).size();
            if (size != 0 && size != scores) {
                throw new IllegalArgumentException("mask " + w + " of an attention group has " + size + " entries, not "
                        + scores + " (sequences * queries * context) or 0");
            }
        }
    }

    /** int64 with {@code length} entries, or (where {@code mayBeEmpty}) none. */
    private static void requireIndex(String what, NDArray index, long length, boolean mayBeEmpty) {
        if (index.getDataType() != DataType.INT64) {
            throw new IllegalArgumentException("attention group's " + what + " are " + index.getDataType() + ", not int64");
        }
        long size = index.size();
        if (size != length && !(mayBeEmpty && size == 0)) {
            throw new IllegalArgumentException("attention group's " + what + " have " + size + " entries, not " + length
                    + (mayBeEmpty ? " or 0" : ""));
        }
    }
}
