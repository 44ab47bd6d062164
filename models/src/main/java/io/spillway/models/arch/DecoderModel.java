package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.StepAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.HostStaging;
import io.spillway.models.runtime.ScriptArguments;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.function.Consumer;

/**
 * The decoder-only transformer of every supported architecture (Llama 2/3, Mistral, Qwen2,
 * Qwen3): token embedding, N pre-norm layers, final norm, LM head. What differs between them is in
 * {@link ModelConfig}: biases, per-head q/k norms, RoPE scaling, sliding windows, tied embeddings.
 *
 * <p>The arithmetic is one TorchScript function, {@code decoder.torchscript}, compiled by libtorch
 * at load and run once per step with a {@link DecoderCall} (the step's token ids and positions,
 * the logit rows, the attention plan) and this model's {@link DecoderConstants}; the same text runs
 * on a GPU and on the CPU, the weights in the {@link ProjectionLayout} chosen at load. Through DJL
 * each op is a JNI call and a Java object (5-20 µs inside a real step); in TorchScript's
 * interpreter it is one or two µs, which at some 1,500 ops per batch-1 step of a 30-layer model was
 * most of the distance between a step and its memory-bandwidth floor.
 *
 * <p>Ownership: weights live in this model's manager until {@link #close}, with the script and
 * the constant arguments that point at them (released first). A forward pass allocates only in
 * the caller's step manager: libtorch frees every intermediate when the call returns, and the
 * logits are attached to the step.
 *
 * <p>Not thread-safe: one forward pass at a time (the engine thread's).
 */
public final class DecoderModel implements AutoCloseable {

    private final ModelConfig config;
    private final ComputeTarget target;
    private final ProjectionLayout layout;
    private final WeightSummary summary;
    private final NDManager weights;
    private final int maxModelLength;
    private final HostStaging staging;
    private final TorchScriptModule script;
    /** The logit rows of a call that selects none: one empty tensor for every step. */
    private final NDArray noRows;
    private final DecoderConstants constants;
    /** Owns {@link #model}, the native form of the constant arguments; it points at the weights, which outlive it. */
    private final ScriptArguments bound;
    /** What each step passes as the constants: {@link #bound}'s value, or in bfloat16 {@link #aliased}. */
    private final IValue model;
    /** A bfloat16 model's constants with the containers aliased as bfloat16 (owned here); null otherwise. */
    private final IValue aliased;

    /**
     * @param bf16 a bfloat16 model's load-time scripts, which alias the constants' containers once
     *             (used here, closed by the caller); null for any other dtype
     */
    DecoderModel(ModelConfig config, ComputeTarget target, ProjectionLayout layout, NDManager weights, DecoderConstants constants,
                 WeightSummary summary, int maxModelLength, Bf16Containers bf16) {
        this.config = config;
        this.target = target;
        this.layout = layout;
        this.summary = summary;
        this.weights = weights;
        this.maxModelLength = maxModelLength;
        this.staging = HostStaging.batched(target.device(), 1 << 20);
        this.noRows = weights.zeros(new Shape(0), DataType.INT64);
        this.constants = constants;
        this.bound = new ScriptArguments();
        IValue alias = null;
        try {
            IValue containers = bound.value(constants);
            alias = bf16 == null ? null : bf16.alias(containers);
            this.aliased = alias;
            this.model = alias == null ? containers : alias;
            this.script = DecoderScript.compile(weights, DecoderScript.Root.DECODER);
        } catch (RuntimeException e) {
            if (alias != null) {
                alias.close();
            }
            bound.close();
            throw e;
        }
    }

    /**
     * Builds the model from {@code source}, converting every tensor to the target's dtype and
     * device and into its layout, one tensor at a time.
     *
     * @param maxModelLength longest context served (RoPE tables are sized for it); at most
     *                       max_position_embeddings unless the config's RoPE scaling extends it
     */
    public static DecoderModel load(TensorSource source, ModelConfig config, ComputeTarget target, int maxModelLength) {
        return load(source, config, target, ProjectionLayout.forTarget(target), Quantization.NONE, QuantizedKernels.forTarget(target),
                maxModelLength);
    }

    /**
     * As {@link #load(TensorSource, ModelConfig, ComputeTarget, int)}, with the float projection weights in
     * {@code layout}, the weights {@code quantization} names quantized as they load, and the quantized
     * projections (an int4 checkpoint's, int8 on load) packed for {@code kernels}.
     */
    public static DecoderModel load(TensorSource source, ModelConfig config, ComputeTarget target, ProjectionLayout layout,
                                    Quantization quantization, QuantizedKernels kernels, int maxModelLength) {
        return new WeightLoader(source, config, target, layout, quantization, kernels).load(maxModelLength);
    }

    public ModelConfig config() {
        return config;
    }

    public ComputeTarget target() {
        return target;
    }

    /** How the projection weights are laid out, and so which branch of the script's {@code project} runs. */
    public ProjectionLayout projectionLayout() {
        return layout;
    }

    /** The weights' format, bytes and kernel. */
    public WeightSummary weightSummary() {
        return summary;
    }

    /** The weights and shapes every step passes, as the script takes them. */
    DecoderConstants constants() {
        return constants;
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
        return forward(batch, attention, step, staged -> { });
    }

    /**
     * As {@link #forward(ForwardBatch, AttentionBackend, NDManager)}, with {@code alongside}
     * staging more of the step's int64 inputs (its draws) into the same single transfer.
     */
    public NDArray forward(ForwardBatch batch, AttentionBackend attention, NDManager step, Consumer<HostStaging> alongside) {
        for (SequenceChunk s : batch.sequences()) {
            if (s.contextLength() > maxModelLength) {
                throw new IllegalArgumentException("sequence of " + s.contextLength()
                        + " tokens exceeds the model's maximum length " + maxModelLength);
            }
        }
        staging.reset();
        StepAttention plan = attention.begin(batch, step, staging);
        DecoderCall call = DecoderCall.of(batch, plan, config.vocabSize(), config.numLayers(), noRows, staging, step);
        alongside.accept(staging);
        staging.flush(step);
        return script.forward(call, step, model);
    }

    /** Host-to-device copies of step inputs so far: one per forward pass whose attention plan is all int64 (the block-table plan). */
    public long stepTransfers() {
        return staging.transfers();
    }

    @Override
    public void close() {
        if (aliased != null) {
            aliased.close();
        }
        bound.close();
        script.close();
        constants.packed().close();
        constants.grouped().close();
        constants.onednn().close();
        weights.close();
    }
}
