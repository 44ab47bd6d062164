package io.spillway.models.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.SplittableRandom;

/**
 * Random weights of the shapes a config implies, like vLLM's {@code --load-format dummy}: for tests
 * and benchmarks at realistic sizes without a checkpoint. Values are deterministic per (seed,
 * tensor name), whatever order tensors are read in.
 *
 * <p>Scales keep activations finite through any depth: matrices uniform with standard deviation
 * {@code 1/sqrt(in)}, norm weights near 1, biases small.
 */
public final class DummyWeights implements TensorSource {

    /** Values are generated in chunks of this many floats through one reused direct buffer. */
    private static final int CHUNK_FLOATS = 4 << 20;

    private final long seed;
    private final boolean separateLmHead;
    private final ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_FLOATS * 4).order(ByteOrder.nativeOrder());

    public DummyWeights(ModelConfig config, long seed) {
        this.seed = seed;
        this.separateLmHead = !config.tieWordEmbeddings();
    }

    @Override
    public boolean contains(String name) {
        // Every tensor of the config's shapes exists, but a tied model has no separate LM head.
        return !name.equals("lm_head.weight") || separateLmHead;
    }

    @Override
    public NDArray read(String name, long[] shape, NDManager scratch) {
        SplittableRandom random = new SplittableRandom(seed ^ ((long) name.hashCode() << 20) ^ name.length());
        long count = new Shape(shape).size();
        float center;
        float halfWidth;
        if (name.endsWith("norm.weight")) {
            center = 1f;
            halfWidth = 0.1f;
        } else if (name.endsWith(".bias")) {
            center = 0f;
            halfWidth = 0.05f;
        } else {
            center = 0f;
            // Uniform on [-a, a] has standard deviation a / sqrt(3).
            halfWidth = (float) (Math.sqrt(3.0) / Math.sqrt(shape[shape.length - 1]));
        }
        NDArray out = scratch.create(new Shape(count), DataType.FLOAT32);
        FloatBuffer floats = chunk.asFloatBuffer();
        for (long start = 0; start < count; start += CHUNK_FLOATS) {
            int n = (int) Math.min(CHUNK_FLOATS, count - start);
            floats.clear();
            for (int i = 0; i < n; i++) {
                floats.put(center + halfWidth * (float) (2 * random.nextDouble() - 1));
            }
            try (NDManager temp = scratch.newSubManager()) {
                NDArray part = temp.create(chunk.slice(0, n * 4).order(ByteOrder.nativeOrder()), new Shape(n), DataType.FLOAT32);
                // index_put copies into the torch-owned array; the chunk buffer is reused next round.
                out.set(new NDIndex().addSliceDim(start, start + n), part);
            }
        }
        return out.reshape(shape);
    }

    @Override
    public String describe() {
        return "random weights (seed " + seed + ")";
    }

    @Override
    public void close() {
        // Nothing mapped, nothing open.
    }
}
