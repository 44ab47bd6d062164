package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * One group of a step's attention plan: sequences with the same query shape, attended together by
 * the decoder script's {@code attend_group}. In {@link GatherAttention}'s plan a "sequence" of a
 * group may be a span of one sequence's queries ({@link QuerySpan}). The script receives it as a
 * tuple of these components, in this order; every tensor belongs to the step.
 *
 * @param contextSlots  int64 {@code [sequences * contextLength]}: the cache slot of each sequence's
 *                      every context position (past a shorter sequence's end, slot 0: the null
 *                      block) in the gathered modes, else empty
 * @param queryRows     int64 {@code [sequences * queries]}: the batch row that feeds each padded
 *                      query, or empty when the group's queries are dense (no padding)
 * @param validRows     int64 {@code [rows]}: which padded query rows are real, or empty when dense
 * @param masks         per distinct sliding window of the model, an additive mask
 *                      {@code [sequences, 1, queries, contextLength]} that broadcasts over the
 *                      query heads, or empty where none is needed (always, in the block modes)
 * @param blockPlan     int64 {@code [sequences, 3 + blocks]} in the block modes (context length,
 *                      first query position, query length, then the block table), else empty
 * @param mode          how the script's {@code attend} reads the context
 * @param blockSize     tokens per cache block
 * @param sequences     sequences in the group
 * @param queries       queries per sequence, padded to the longest
 * @param contextLength context per sequence, padded to the longest
 * @param firstRow      the batch row of the group's first token
 * @param rows          batch rows the group spans
 */
public record AttentionGroup(NDArray contextSlots, NDArray queryRows, NDArray validRows, List<NDArray> masks, NDArray blockPlan,
                             Mode mode, int blockSize, int sequences, int queries, int contextLength, int firstRow, int rows) {

    /** How a group's context is read; the script sees the ordinal. */
    public enum Mode {
        /** Every context slot listed from the host, masks built there ({@link GatherAttention}). */
        GATHERED_SLOTS,
        /** Whole blocks gathered through the block tables, masks from positions, two matmuls ({@link BlockTableAttention}). */
        BLOCKS_MATMUL,
        /** As {@link #BLOCKS_MATMUL}, through {@code scaled_dot_product_attention}. */
        BLOCKS_SDPA,
        /**
         * As {@link #GATHERED_SLOTS} for one-query sequences in float32 on the CPU, attended by
         * Spillway's native operator, which reads the keys and values through the slots without
         * gathering them ({@link GatherAttention} with native decodes).
         */
        GATHERED_SLOTS_NATIVE
    }

    public AttentionGroup {
        masks = List.copyOf(masks);
        if (sequences < 1 || queries < 1 || contextLength < 1 || firstRow < 0 || rows < 1 || rows > sequences * queries) {
            throw new IllegalArgumentException("attention group of " + sequences + " sequences, " + queries + " queries, context "
                    + contextLength + ", rows " + firstRow + "+" + rows + ": every count must be positive and the rows at most"
                    + " sequences * queries");
        }
        boolean slots = mode == Mode.GATHERED_SLOTS || mode == Mode.GATHERED_SLOTS_NATIVE;
        if (mode == Mode.GATHERED_SLOTS_NATIVE && queries != 1) {
            throw new IllegalArgumentException("the native operator attends one query a sequence, not " + queries);
        }
        requireIndex("context slots", contextSlots, slots ? (long) sequences * contextLength : 0, false);
        if (blockSize < 1) {
            throw new IllegalArgumentException("attention group with block size " + blockSize);
        }
        long blocks = (contextLength + (long) blockSize - 1) / blockSize;
        requireIndex("block plan", blockPlan, slots ? 0 : sequences * (3 + blocks), false);
        boolean dense = rows == sequences * queries;
        requireIndex("query rows", queryRows, (long) sequences * queries, dense);
        requireIndex("valid rows", validRows, rows, dense);
        if (masks.isEmpty()) {
            throw new IllegalArgumentException("attention group without masks: it needs one per distinct sliding window, even if empty");
        }
        Shape maskShape = new Shape(sequences, 1, queries, contextLength);
        for (int w = 0; w < masks.size(); w++) {
            Shape shape = masks.get(w).getShape();
            if (shape.size() != 0 && (!shape.equals(maskShape) || !slots)) {
                throw new IllegalArgumentException("mask " + w + " of an attention group is " + shape + ", not " + maskShape
                        + " (sequences, 1, queries, context) or empty");
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
