package io.spillway.models.attention;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.runtime.HostStaging;

/**
 * How a group's ragged queries (prefill chunks of different lengths) are padded to one shape and
 * back: which batch row feeds each padded query (a short sequence repeats its last row) and which
 * padded rows are real. Both are empty when the group is dense.
 *
 * @param queryRows int64 {@code [sequences * maxQuery]}, or {@code none}
 * @param validRows int64 {@code [rows]}, or {@code none}
 */
record PaddedQueries(NDArray queryRows, NDArray validRows) {

    static PaddedQueries of(ForwardBatch batch, ForwardBatch.Group group, NDManager step, HostStaging staging, NDArray none) {
        if (group.denseQueries()) {
            return new PaddedQueries(none, none);
        }
        int b = group.size();
        int q = group.maxQuery();
        long[] rows = new long[Math.multiplyExact(b, q)];
        long[] valid = new long[group.rows()];
        int v = 0;
        for (int i = 0; i < b; i++) {
            int seq = group.sequences()[i];
            int first = batch.firstRow(seq);
            int len = batch.sequences().get(seq).queryLength();
            for (int t = 0; t < q; t++) {
                rows[i * q + t] = first + Math.min(t, len - 1);
                if (t < len) {
                    valid[v++] = (long) i * q + t;
                }
            }
        }
        return new PaddedQueries(staging.longs(step, rows, rows.length, new Shape(rows.length)),
                staging.longs(step, valid, valid.length, new Shape(valid.length)));
    }
}
