package io.spillway.models.arch;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.spillway.models.checkpoint.CheckpointException;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchRuntime;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a checkpoint's tensors into a {@link DecoderModel}: Hugging Face names in, fused and
 * device-specific layouts out.
 *
 * <p>Memory: each tensor is read as a view of the memory-mapped file inside a scratch scope,
 * copied into an owned array of the target dtype and device, laid out, and the scratch scope
 * closed before the next tensor. Peak usage is the model plus one layer's tensors; nothing the
 * model keeps aliases the (read-only) mapping.
 */
final class WeightLoader {

    private final TensorSource source;
    private final ModelConfig config;
    private final ComputeTarget target;
    private final int threads;

    WeightLoader(TensorSource source, ModelConfig config, ComputeTarget target) {
        this.source = source;
        this.config = config;
        this.target = target;
        this.threads = target.isGpu() ? 1 : TorchRuntime.intraOpThreads();
    }

    DecoderModel load(int maxModelLength) {
        NDManager model = NDManager.newBaseManager(target.device(), "PyTorch");
        try {
            return build(model, maxModelLength);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private DecoderModel build(NDManager model, int maxModelLength) {
        ModelConfig c = config;
        NDArray eps = model.create((float) c.rmsNormEps());
        Projection lmHead;
        Projection embedding;
        boolean tied = c.tieWordEmbeddings() || !source.contains("lm_head.weight");
        if (tied && !c.tieWordEmbeddings()) {
            throw new CheckpointException("tensor lm_head.weight is missing from " + source.describe()
                    + " and config.json does not set tie_word_embeddings");
        }
        if (tied) {
            // One matrix serves both ends; the LM head's layout decides, the embedding reads its rows.
            lmHead = projection(model, List.of("model.embed_tokens.weight"), null, c.vocabSize(), c.hiddenSize());
            embedding = lmHead;
        } else {
            lmHead = projection(model, List.of("lm_head.weight"), null, c.vocabSize(), c.hiddenSize());
            embedding = projection(model, List.of("model.embed_tokens.weight"), null, c.vocabSize(), c.hiddenSize());
        }

        DecoderLayer.Slices slices = DecoderLayer.Slices.of(c);
        List<DecoderLayer> layers = new ArrayList<>(c.numLayers());
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            String m = p + "mlp.";
            Projection qkv = projection(model,
                    List.of(a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"),
                    c.qkvBias() ? List.of(a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias") : null,
                    c.qSize() + 2L * c.kvSize(), c.hiddenSize(), c.qSize(), c.kvSize(), c.kvSize());
            RmsNorm qkNorm = c.qkNorm() ? headNorm(model, eps, a + "q_norm.weight", a + "k_norm.weight") : null;
            Projection o = projection(model, List.of(a + "o_proj.weight"),
                    c.outputBias() ? List.of(a + "o_proj.bias") : null, c.hiddenSize(), c.qSize());
            Projection gateUp = projection(model, List.of(m + "gate_proj.weight", m + "up_proj.weight"),
                    c.mlpBias() ? List.of(m + "gate_proj.bias", m + "up_proj.bias") : null,
                    2L * c.intermediateSize(), c.hiddenSize(), c.intermediateSize(), c.intermediateSize());
            Projection down = projection(model, List.of(m + "down_proj.weight"),
                    c.mlpBias() ? List.of(m + "down_proj.bias") : null, c.hiddenSize(), c.intermediateSize());
            layers.add(new DecoderLayer(i, norm(model, eps, p + "input_layernorm.weight"), qkv, qkNorm, o,
                    norm(model, eps, p + "post_attention_layernorm.weight"), gateUp, down, slices));
        }
        RmsNorm finalNorm = norm(model, eps, "model.norm.weight");
        RotaryEmbedding rope = new RotaryEmbedding(c.headDim(), c.ropeTheta(), c.ropeScaling(), maxModelLength,
                target.dtype(), target.device(), model);
        return new DecoderModel(c, target, model, embedding, layers, finalNorm, lmHead, rope, maxModelLength);
    }

    /**
     * Reads one or more {@code [rows_i, in]} weights (fused along rows) and their biases into a
     * projection, split into one row block per intra-op thread on the CPU.
     *
     * @param rowsEach rows of each named weight; defaults to {@code out} for a single weight
     */
    private Projection projection(NDManager model, List<String> names, List<String> biasNames, long out, long in, long... rowsEach) {
        try (NDManager scratch = model.newSubManager(Device.cpu())) {
            NDArray weight = fused(names, in, rowsEach.length == 0 ? new long[] {out} : rowsEach, scratch);
            NDArray bias = biasNames == null ? null : fusedVector(biasNames, rowsEach.length == 0 ? new long[] {out} : rowsEach, scratch);
            return new Projection(keep(weight, model), bias == null ? null : keep(bias, model), Projection.partsFor(out, threads));
        }
    }

    private RmsNorm norm(NDManager model, NDArray eps, String name) {
        try (NDManager scratch = model.newSubManager(Device.cpu())) {
            return new RmsNorm(keep(owned(name, new long[] {config.hiddenSize()}, scratch), model), eps);
        }
    }

    /** Qwen3's q_norm and k_norm as one weight over the adjacent q and k heads: {@code [heads + kvHeads, headDim]}. */
    private RmsNorm headNorm(NDManager model, NDArray eps, String qName, String kName) {
        try (NDManager scratch = model.newSubManager(Device.cpu())) {
            long d = config.headDim();
            NDArray q = owned(qName, new long[] {d}, scratch).reshape(1, d).repeat(0, config.numHeads());
            NDArray k = owned(kName, new long[] {d}, scratch).reshape(1, d).repeat(0, config.numKvHeads());
            return new RmsNorm(keep(NDArrays.concat(new NDList(q, k), 0), model), eps);
        }
    }

    private NDArray fused(List<String> names, long in, long[] rowsEach, NDManager scratch) {
        if (names.size() == 1) {
            return owned(names.get(0), new long[] {rowsEach[0], in}, scratch);
        }
        NDList parts = new NDList(names.size());
        for (int i = 0; i < names.size(); i++) {
            parts.add(owned(names.get(i), new long[] {rowsEach[i], in}, scratch));
        }
        return NDArrays.concat(parts, 0);
    }

    private NDArray fusedVector(List<String> names, long[] rowsEach, NDManager scratch) {
        NDList parts = new NDList(names.size());
        for (int i = 0; i < names.size(); i++) {
            parts.add(owned(names.get(i), new long[] {rowsEach[i]}, scratch));
        }
        return parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
    }

    /**
     * A tensor in the target dtype and on the target device that owns its memory. {@code toType}
     * and {@code toDevice} return their input unchanged when there is nothing to convert, and that
     * input aliases the read-only file mapping; only in that case is an explicit copy needed.
     */
    private NDArray owned(String name, long[] shape, NDManager scratch) {
        NDArray view = source.read(name, shape, scratch);
        NDArray converted = view.toDevice(target.device(), false).toType(target.dtype(), false);
        return converted == view ? view.duplicate() : converted;
    }

    private static NDArray keep(NDArray array, NDManager model) {
        array.attach(model);
        return array;
    }
}
