package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.runtime.HostStaging;
import java.util.List;

/**
 * How a group's ragged queries (prefill chunks of different lengths) are padded to one shape and
 * back: which batch row feeds each padded query (a short span repeats its last row) and which
 * padded rows are real. Both are empty when the group is dense.
 *
 * @param queryRows int64 {@code [spans * maxQuery]}, or {@code none}
 * @param validRows int64 {@code [rows]}, or {@code none}
 */
record PaddedQueries(NDArray queryRows, NDArray validRows) {

    static PaddedQueries of(GatherAttention.Run run, NDManager step, HostStaging staging, NDArray none) {
        List<QuerySpan> spans = run.spans();
        int maxQuery = run.queries();
        int rows = run.rows();
        if (rows == spans.size() * maxQuery) {
            return new PaddedQueries(none, none);
        }
        long[] padded = new long[Math.multiplyExact(spans.size(), maxQuery)];
        long[] valid = new long[rows];
        int v = 0;
        for (int i = 0; i < spans.size(); i++) {
            QuerySpan span = spans.get(i);
            for (int t = 0; t < maxQuery; t++) {
                padded[i * maxQuery + t] = span.firstRow() + Math.min(t, span.queries() - 1);
                if (t < span.queries()) {
                    valid[v++] = (long) i * maxQuery + t;
                }
            }
        }
        return new PaddedQueries(staging.longs(step, padded, padded.length, new Shape(padded.length)),
                staging.longs(step, valid, valid.length, new Shape(valid.length)));
    }
}
