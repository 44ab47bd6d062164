package io.spillway.models.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Fills a torch-owned float32 tensor with values produced in Java, a chunk at a time through one
 * reused direct buffer: the heap never holds the tensor and no JVM direct memory is left behind.
 */
final class Float32Filler {

    /** Writes {@code count} values, those of elements [start, start + count), into {@code out}. */
    interface Producer {
        void produce(long start, int count, FloatBuffer out);
    }

    private static final int CHUNK_FLOATS = 4 << 20;

    private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_FLOATS * 4).order(ByteOrder.nativeOrder());

    NDArray fill(NDManager manager, long[] shape, Producer producer) {
        long count = new Shape(shape).size();
        NDArray out = manager.create(new Shape(count), DataType.FLOAT32);
        FloatBuffer floats = chunk.asFloatBuffer();
        for (long start = 0; start < count; start += CHUNK_FLOATS) {
            int n = (int) Math.min(CHUNK_FLOATS, count - start);
            floats.clear();
            producer.produce(start, n, floats);
            try (NDManager temp = manager.newSubManager()) {
                NDArray part = temp.create(chunk.slice(0, n * 4).order(ByteOrder.nativeOrder()), new Shape(n), DataType.FLOAT32);
                // index_put copies into the torch-owned array, so the chunk can be reused next round.
                out.set(new NDIndex().addSliceDim(start, start + n), part);
            }
        }
        return out.reshape(shape);
    }
}
