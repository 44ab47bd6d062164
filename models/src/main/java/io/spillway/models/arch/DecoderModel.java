package io.spillway.models.arch;

import static io.spillway.models.runtime.TorchScriptModule.argument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoder-only transformer of every supported architecture (Llama 2/3, Mistral, Qwen2,
 * Qwen3): token embedding, N pre-norm layers, final norm, LM head. What differs between them is in
 * {@link ModelConfig}: biases, per-head q/k norms, RoPE scaling, sliding windows, tied embeddings.
 *
 * <p>The arithmetic is one TorchScript function, {@code decoder.torchscript}, compiled by libtorch
 * at load and run once per step with this model's weights, the step's token ids and positions, and
 * the attention plan; the same text runs on a GPU and on the CPU. Through DJL each op is a JNI
 * call and a Java object (5-20 µs inside a real step); in TorchScript's interpreter it is one or
 * two µs, which at some 1,500 ops per batch-1 step of a 30-layer model was most of the distance
 * between a step and its memory-bandwidth floor.
 *
 * <p>Ownership: weights live in this model's manager until {@link #close}, with the script and
 * the constant arguments that point at them. A forward pass allocates only in the caller's step
 * manager: libtorch frees every intermediate when the call returns, and the logits are attached
 * to the step.
 *
 * <p>Not thread-safe: one forward pass at a time (the engine thread's).
 */
public final class DecoderModel implements AutoCloseable {

    static final String SCRIPT = "decoder.torchscript";
    private static final int WEIGHTS_PER_LAYER = 9;

    private final ModelConfig config;
    private final ComputeTarget target;
    private final NDManager weights;
    private final int maxModelLength;
    private final HostStaging staging;
    private final TorchScriptModule script;
    /** Arguments that never change: they point at the weights, which outlive them. */
    private final IValue embedding;
    private final IValue layerWeights;
    private final IValue finalNorm;
    private final IValue lmHead;
    private final IValue cos;
    private final IValue signedSin;
    private final IValue eps;

    DecoderModel(ModelConfig config, ComputeTarget target, NDManager weights, Projection embedding, List<DecoderLayer> layers,
                 NDArray finalNorm, Projection lmHead, RotaryEmbedding rope, int maxModelLength) {
        this.config = config;
        this.target = target;
        this.weights = weights;
        this.maxModelLength = maxModelLength;
        this.staging = new HostStaging(target.device(), 1 << 20);
        this.script = TorchScriptModule.compile(weights, "Decoder", TorchScriptModule.resource(DecoderModel.class, SCRIPT));
        // The script's order per layer; an empty tensor where a model has no such weight.
        NDArray none = weights.zeros(new Shape(0), target.dtype());
        List<NDArray> flat = new ArrayList<>(layers.size() * WEIGHTS_PER_LAYER);
        for (DecoderLayer layer : layers) {
            flat.addAll(List.of(
                    layer.qkv().applied(), orNone(layer.qkv().bias(), none), orNone(layer.qkNorm(), none),
                    layer.output().applied(), orNone(layer.output().bias(), none),
                    layer.gateUp().applied(), orNone(layer.gateUp().bias(), none),
                    layer.down().applied(), orNone(layer.down().bias(), none)));
        }
        this.embedding = argument(embedding.weight());
        this.layerWeights = argument(flat);
        this.finalNorm = argument(finalNorm);
        this.lmHead = argument(lmHead.applied());
        this.cos = argument(rope.cos());
        this.signedSin = argument(rope.signedSin());
        this.eps = argument(weights.create(new float[] {(float) config.rmsNormEps()}));
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
        Shape row = new Shape(tokens);
        NDArray ids = staging.longs(step, batch.tokenIds(), tokens, row);
        NDArray positions = staging.longs(step, batch.positions(), tokens, row);
        StepAttention plan = attention.begin(batch, step, staging);
        long[] rows = batch.logitRows();
        long rowsMode = rows.length == 0 ? 0 : rows.length == tokens && isIdentity(rows) ? 1 : 2;
        NDArray logitRows = rowsMode == 2 ? staging.longs(step, rows, rows.length, new Shape(rows.length)) : ids;

        List<IValue> perStep = new ArrayList<>(12);
        try {
            IValue out = script.forward(
                    owned(perStep, argument(ids)),
                    owned(perStep, argument(positions)),
                    owned(perStep, argument(plan.writeSlots())),
                    owned(perStep, argument(logitRows)),
                    owned(perStep, argument(plan.caches())),
                    owned(perStep, argument(plan.groupTensors())),
                    owned(perStep, IValue.listFrom(plan.groupInts())),
                    embedding, layerWeights, finalNorm, lmHead, cos, signedSin,
                    owned(perStep, IValue.listFrom(plan.layerWindows())),
                    owned(perStep, IValue.listFrom(config.numHeads(), config.numKvHeads(), config.headDim(), plan.windows(), rowsMode)),
                    eps);
            owned(perStep, out);
            return out.toTensor((PtNDManager) step);
        } finally {
            perStep.forEach(IValue::close);
        }
    }

    private static NDArray orNone(NDArray weight, NDArray none) {
        return weight == null ? none : weight;
    }

    private static IValue owned(List<IValue> perStep, IValue value) {
        perStep.add(value);
        return value;
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
        for (IValue constant : List.of(embedding, layerWeights, finalNorm, lmHead, cos, signedSin, eps)) {
            constant.close();
        }
        script.close();
        weights.close();
    }
}
