package io.spillway.models.attention;

/**
 * Some of one sequence's queries this step, attended as a unit: all of them, or (when one group
 * of them would make too large a tensor, see {@link GatherAttention}) a run of them.
 *
 * @param sequence index into the batch's sequences
 * @param queries  queries in the span
 * @param position the absolute position of its first query
 * @param firstRow the batch row of its first query
 */
record QuerySpan(int sequence, int queries, int position, int firstRow) {

    /** Context positions the span's queries see at most: up to and including its last query's position. */
    int context() {
        return position + queries;
    }
}
