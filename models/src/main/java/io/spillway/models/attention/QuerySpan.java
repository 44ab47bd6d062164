package io.spillway.models.attention;

/**
 * Some of one sequence's queries this step, attended as a unit: all of them, or (when one group
 * of them would make too large a tensor, see {@link GatherAttention}) a run of them.
 *
 * @param sequence   index into the batch's sequences
 * @param firstQuery the span's first query, counted from the sequence's first this step
 * @param queries    queries in the span
 * @param position   the absolute position of its first query
 * @param context    context positions the span's queries see at most: up to and including its
 *                   last query's position
 * @param firstRow   the batch row of its first query
 */
record QuerySpan(int sequence, int firstQuery, int queries, int position, int context, int firstRow) {
}
