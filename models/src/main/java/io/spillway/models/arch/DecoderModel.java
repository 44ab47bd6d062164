package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.HostStaging;
import java.util.List;

/**
 * The decoder-only transformer of every supported architecture (Llama 2/3, Mistral, Qwen2,
 * Qwen3): token embedding, N pre-norm layers, final norm, LM head. What differs between them is in
 * {@link ModelConfig}: biases, per-head q/k norms, RoPE scaling, sliding windows, tied embeddings.
 *
 * <p>Ownership: weights live in this model's manager until {@link #close}. A forward pass
 * allocates only in the caller's step manager and in one scope per layer, closed as soon as the
 * layer's output exists, so nothing outlives the step.
 *
 * <p>Not thread-safe: one forward pass at a time (the engine thread's).
 */
public final class DecoderModel implements AutoCloseable {

    private final ModelConfig config;
    private final ComputeTarget target;
    private final NDManager weights;
    private final Projection embedding;
    private final List<DecoderLayer> layers;
    private final RmsNorm finalNorm;
    private final Projection lmHead;
    private final RotaryEmbedding rope;
    private final int maxModelLength;
    private final HostStaging staging;

    DecoderModel(ModelConfig config, ComputeTarget target, NDManager weights, Projection embedding, List<DecoderLayer> layers,
                 RmsNorm finalNorm, Projection lmHead, RotaryEmbedding rope, int maxModelLength) {
        this.config = config;
        this.target = target;
        this.weights = weights;
        this.embedding = embedding;
        this.layers = List.copyOf(layers);
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.rope = rope;
        this.maxModelLength = maxModelLength;
        this.staging = new HostStaging(target.device(), 1 << 20);
    }

    /**
     * Builds the model from {@code source}, converting every tensor to the target's dtype and
     * device and into its layout, one tensor at a time.
     *
     * @param maxModelLength longest context served (RoPE tables are sized for it); at most
     *                       max_position_embeddings unless the config's RoPE scaling extends it
     */
    public static DecoderModel load(TensorSource source, ModelConfig config, ComputeTarget target, int maxModelLength) {
        return new WeightLoader(source, config, target).load(maxModelLength);
    }

    public ModelConfig config() {
        return config;
    }

    public ComputeTarget target() {
        return target;
    }

    public int maxModelLength() {
        return maxModelLength;
    }

    /** The manager that owns the weights; KV caches and attention constants are created under it. */
    public NDManager manager() {
        return weights;
    }

    /**
     * Runs one forward pass over a batch, writing its keys and values into the cache behind
     * {@code attention}.
     *
     * @return float32 logits {@code [sequences wanting logits, vocab]}, in the batch's sequence
     *         order, attached to {@code step}
     */
    public NDArray forward(ForwardBatch batch, AttentionBackend attention, NDManager step) {
        for (SequenceChunk s : batch.sequences()) {
            if (s.contextLength() > maxModelLength) {
                throw new IllegalArgumentException("sequence of " + s.contextLength()
                        + " tokens exceeds the model's maximum length " + maxModelLength);
            }
        }
        staging.reset();
        int tokens = batch.totalTokens();
        NDArray positions = staging.longs(step, batch.positions(), tokens, new Shape(tokens));
        RotaryEmbedding.Angles angles = rope.angles(positions, step);
        StepAttention stepAttention = attention.begin(batch, step, staging);

        NDArray x = embedding.rows(batch.tokenIds(), tokens, step, staging);
        for (DecoderLayer layer : layers) {
            try (NDManager scope = step.newSubManager()) {
                // The layer's input and every intermediate die with its scope; only the output survives.
                x.attach(scope);
                NDArray out = layer.forward(x, rope, angles, stepAttention);
                out.attach(step);
                x = out;
            }
        }
        long[] rows = batch.logitRows();
        if (rows.length == 0) {
            return step.zeros(new Shape(0, config.vocabSize()), DataType.FLOAT32);
        }
        NDArray last = rows.length == tokens && isIdentity(rows)
                ? x
                : x.get(new NDIndex("{}", staging.longs(step, rows, rows.length, new Shape(rows.length))));
        NDArray logits = lmHead.apply(finalNorm.apply(last));
        return logits.getDataType() == DataType.FLOAT32 ? logits : logits.toType(DataType.FLOAT32, false);
    }

    private static boolean isIdentity(long[] rows) {
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] != i) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() {
        weights.close();
    }
}
