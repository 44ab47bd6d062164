package io.spillway.models.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.SplittableRandom;

/**
 * Random weights of the shapes a config implies, like vLLM's {@code --load-format dummy}: for tests
 * and benchmarks at realistic sizes without a checkpoint. Values are deterministic per (seed,
 * tensor name), whatever order tensors are read in.
 *
 * <p>Scales keep activations finite through any depth: matrices uniform with standard deviation
 * {@code 1/sqrt(in)}, norm weights near 1, biases small.
 *
 * <p>A config with an int4 {@code quantization_config} gets its layer projections in that form
 * ({@code qweight}, {@code qzeros}, {@code scales}; no {@code g_idx}, which is optional): random
 * words, so every 4-bit value and zero point is uniform on 0..15, and scales that give the
 * dequantized weights the same standard deviation ({@code (q - z)} has about 6.5).
 */
public final class DummyWeights implements TensorSource {

    private final long seed;
    private final ModelConfig config;
    private final boolean int4;
    private final boolean separateLmHead;
    private final Float32Filler filler = new Float32Filler();

    public DummyWeights(ModelConfig config, long seed) {
        this.seed = seed;
        this.config = config;
        this.int4 = config.quantization() instanceof QuantizationConfig.Int4;
        this.separateLmHead = !config.tieWordEmbeddings();
    }

    @Override
    public boolean contains(String name) {
        // Every tensor of the config's shapes exists, but a tied model has no separate LM head, and an int4 one's
        // layer projections are stored packed.
        if (int4 && isLayerProjection(name)) {
            return name.endsWith(".qweight") || name.endsWith(".qzeros") || name.endsWith(".scales");
        }
        return !name.equals("lm_head.weight") || separateLmHead;
    }

    private static boolean isLayerProjection(String name) {
        return name.startsWith("model.layers.") && name.contains("_proj.") && !name.endsWith(".bias");
    }

    /** Input channels of a layer projection, from its name: what a packed tensor's shape does not say. */
    private long inputs(String name) {
        if (name.contains(".o_proj.")) {
            return config.qSize();
        }
        return name.contains(".down_proj.") ? config.intermediateSize() : config.hiddenSize();
    }

    @Override
    public NDArray read(String name, long[] shape, NDManager scratch) {
        SplittableRandom random = new SplittableRandom(seed ^ ((long) name.hashCode() << 20) ^ name.length());
        if (int4 && (name.endsWith(".qweight") || name.endsWith(".qzeros"))) {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            int[] words = new int[Math.toIntExact(n)];
            for (int i = 0; i < words.length; i++) {
                words[i] = random.nextInt();
            }
            return scratch.create(words, new Shape(shape));
        }
        float center;
        float halfWidth;
        if (int4 && name.endsWith(".scales")) {
            // Uniform on [0.5c, 1.5c] has mean c and a mean square of 13/12 c^2.
            float c = (float) (1 / (6.5 * Math.sqrt(13.0 / 12) * Math.sqrt(inputs(name))));
            center = c;
            halfWidth = c / 2;
        } else if (name.endsWith("norm.weight")) {
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
