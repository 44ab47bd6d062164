package io.spillway.models.runtime;

import ai.djl.ndarray.NDArray;

/**
 * The one way a step's device tensors become Java arrays, counting the bytes that cross. What a
 * step brings back to the host is a cost the engine promises to keep small (token ids and the
 * log-probabilities asked for, not the logits), and a count taken where the copy happens is the
 * only one a test can trust.
 *
 * <p>Written by the engine thread only; the total is volatile so that another thread (a test, a
 * metrics scrape) reads a recent value.
 */
public final class HostCopies {

    private volatile long bytes;

    /** int64 {@code array} as a Java array; an empty one is not copied. */
    public long[] longs(NDArray array) {
        if (array.size() == 0) {
            return new long[0];
        }
        long[] values = array.toLongArray();
        add(values.length * 8L);
        return values;
    }

    /** float32 {@code array} as a Java array; an empty one is not copied. */
    public float[] floats(NDArray array) {
        if (array.size() == 0) {
            return new float[0];
        }
        float[] values = array.toFloatArray();
        add(values.length * 4L);
        return values;
    }

    /** Bytes copied device-to-host through this object so far. */
    public long bytes() {
        return bytes;
    }

    @SuppressWarnings("NonAtomicOperationOnVolatileField") // one writer, the engine thread
    private void add(long n) {
        bytes += n;
    }
}
