package io.spillway.models.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
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

    private final long seed;
    private final boolean separateLmHead;
    private final Float32Filler filler = new Float32Filler();

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
        float c = center;
        float w = halfWidth;
        return filler.fill(scratch, shape, (start, n, out) -> {
            for (int i = 0; i < n; i++) {
                out.put(c + w * (float) (2 * random.nextDouble() - 1));
            }
        });
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
