package io.spillway.models.arch;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.spillway.models.checkpoint.CheckpointException;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.QuantizationConfig;
import io.spillway.models.checkpoint.TensorSource;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.TorchRuntime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a checkpoint's tensors into a {@link DecoderModel}: Hugging Face names in, fused
 * projections out. Q, K and V become one projection, gate and up another; the RMSNorm weight in
 * front of each is folded into its columns, and the attention scale {@code 1/sqrt(headDim)} into
 * the query rows (or Qwen3's query norm). Folding is done in float32 before the cast to the target
 * dtype, so it costs no precision. Projection weights are laid out as the {@link ProjectionLayout}
 * says; the result is checked as a whole by {@link DecoderConstants}.
 *
 * <p>int8 ({@link Quantization}): each projection is quantized from its folded float32 weight in
 * the layer's scratch scope, on the CPU, and packed: in blocks of 32 inputs for Spillway's kernel
 * ({@link GroupedWeights}) where it runs ({@link QuantizedKernels#SPILLWAY}), else per output
 * channel for fbgemm's ({@link Int8Weights}). The float and int8 arrays go with the scope, so only
 * the packed copy stays. Both kernels run on the CPU only.
 *
 * <p>int4 checkpoints (AWQ, GPTQ; {@link QuantizationConfig.Int4}): each projection is unpacked
 * ({@link Int4Reader}), fused like a float one (along its outputs, scales and zeros with it), and
 * packed for an int4 kernel on the target ({@link GroupedWeights}). The norm in front of it
 * cannot be folded into 4-bit values, so it stays in the layer ({@link LayerWeights}); the attention
 * scale goes into the query outputs' scales. A projection the kernel cannot take ({@link Int4Fit})
 * is dequantized and loaded as a float one, folding included, and the summary says which and why.
 *
 * <p>Memory: tensors are read as views of the memory-mapped file inside a scratch scope that is
 * closed after each layer, so peak usage is the model plus one layer. A kept weight never aliases
 * the read-only mapping: when no conversion or computation produced a new array, it is copied.
 */
final class WeightLoader {

    private final TensorSource source;
    private final ModelConfig config;
    private final ComputeTarget target;
    private final ProjectionLayout layout;
    private final Quantization quantization;
    private final QuantizedKernels kernels;
    /** Row blocks per projection weight: libtorch's intra-op threads for the row-block layouts, one for LINEAR. */
    private final int threads;
    private final Set<NDArray> fileViews = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Bytes of the arrays kept in the model so far, for its {@link WeightSummary}. */
    private long keptBytes;
    /** Of {@link #keptBytes}, an embedding table's that is not also the LM head: gathered by row, never streamed. */
    private long gatheredOnlyBytes;
    /** A bfloat16 model's rounding into containers, for the length of {@link #load}; null in any other dtype. */
    private Bf16Containers bf16;
    /** Why int4 projections were dequantized rather than packed, and which (by name within a layer), for the summary. */
    private final Map<String, Set<String>> dequantized = new LinkedHashMap<>();

    /**
     * Where a layer's projections go: int8 or int4 packers, or float weights beside {@code none},
     * packed for oneDNN too when {@code onednn} is not null.
     */
    private record Sinks(NDArray none, Int8Weights.Packer int8, int levels, GroupedWeights.Packer grouped, Int4Reader int4Reader,
                         OneDnnWeights.Packer onednn) {
    }

    /** A layer projection as loaded, and its norm's weight when the norm could not be folded into it (else null). */
    private record LayerProjection(Projection projection, NDArray norm) {
    }

    WeightLoader(TensorSource source, ModelConfig config, ComputeTarget target, ProjectionLayout layout, Quantization quantization,
                 QuantizedKernels kernels) {
        if (quantization.packsInt8() && (target.isGpu() || target.dtype() != DataType.FLOAT32)) {
            // Refused rather than cast around: the int8 kernels take and return float32, so a 16-bit model
            // would pay two casts per projection for int8 weights that run on the CPU only anyway.
            throw new IllegalArgumentException("--quantization " + quantization + " runs on the CPU in float32 (its kernels' dtype),"
                    + " not on " + target + "; use --dtype float32 --device cpu");
        }
        if (kernels == QuantizedKernels.SPILLWAY && QuantizedKernels.forTarget(target) != QuantizedKernels.SPILLWAY) {
            throw new IllegalArgumentException("quantized kernels " + kernels + " are for a float32 model on a CPU where spillway::int4_linear and int8_linear"
                    + " runs (AVX-512 VNNI, Spillway's native operators registered), not " + target + " here");
        }
        if (layout.rowBlocks() && target.isGpu()) {
            // The row blocks' script branches call oneDNN and split rows across CPU threads: CPU kernels.
            throw new IllegalArgumentException("projections " + layout + " are the CPU's layouts; on " + target
                    + " use linear (or auto)");
        }
        if (config.quantization() instanceof QuantizationConfig.Int4 int4 && quantization.layers()) {
            throw new IllegalArgumentException("--quantization " + quantization + " quantizes a float checkpoint on load; this one is "
                    + int4.describe() + " already (serve it with --quantization none, or lm-head=int8 for its LM head alone)");
        }
        if (quantization.lmHead() && !quantization.layers() && !(config.quantization() instanceof QuantizationConfig.Int4)) {
            throw new IllegalArgumentException("--quantization " + quantization + " is for an int4 checkpoint's LM head; this one is"
                    + " a float checkpoint: int8 quantizes its layers and its LM head");
        }
        this.source = source;
        this.config = config;
        this.target = target;
        this.layout = layout;
        this.quantization = quantization;
        this.kernels = kernels;
        this.threads = layout.rowBlocks() ? TorchRuntime.intraOpThreads() : 1;
    }

    DecoderModel load(int maxModelLength) {
        NDManager model = NDManager.newBaseManager(target.device(), "PyTorch");
        QuantizationConfig.Int4 int4 = config.quantization() instanceof QuantizationConfig.Int4 q ? q : null;
        try (Int8Weights.Packer packer = new Int8Weights.Packer(model);
             GroupedWeights.Packer groupedPacker = new GroupedWeights.Packer(model, target, kernels);
             OneDnnWeights.Packer onednnPacker = packsForOneDnn(int4)
                     ? new OneDnnWeights.Packer(model, model.zeros(new Shape(0), DataType.FLOAT32)) : null;
             Int4Reader int4Reader = int4 == null ? null : new Int4Reader(source, int4, model);
             Bf16Containers bf16 = target.dtype() == DataType.BFLOAT16 ? new Bf16Containers(model) : null) {
            this.bf16 = bf16;
            return build(model, packer, groupedPacker, onednnPacker, int4Reader, maxModelLength);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private DecoderModel build(NDManager model, Int8Weights.Packer packer, GroupedWeights.Packer groupedPacker,
                               OneDnnWeights.Packer onednnPacker, Int4Reader int4Reader, int maxModelLength) {
        ModelConfig c = config;
        long hidden = c.hiddenSize();
        boolean tied = c.tieWordEmbeddings() || !source.contains("lm_head.weight");
        if (tied && !c.tieWordEmbeddings()) {
            throw new CheckpointException("tensor lm_head.weight is missing from " + source.describe()
                    + " and config.json does not set tie_word_embeddings");
        }
        // The script's stand-in for a weight the model does not have.
        NDArray none = model.zeros(new Shape(0), target.heldAs());
        int levels = quantization.packsInt8() ? Int8Quantizer.levelsForThisCpu() : 0;
        NDArray finalNorm;
        NDArray embedding;
        NDArray embeddingScales = none;
        NDArray lmHeadWeight = none;
        Projection lmHead;
        try (NDManager scratch = scratch(model)) {
            // One matrix serves both ends of a tied model; the embedding reads its rows.
            NDArray head = read(tied ? "model.embed_tokens.weight" : "lm_head.weight", c.vocabSize(), hidden, scratch);
            NDArray table = tied ? head : read("model.embed_tokens.weight", c.vocabSize(), hidden, scratch);
            lmHead = quantization.lmHead() ? null : projection(model, head, null);
            if (lmHead != null) {
                lmHeadWeight = lmHead.applied();
            }
            boolean tableIsHead = !quantization.embeddings() && tied && lmHead != null;
            if (quantization.embeddings()) {
                Int8Quantizer.Int8Matrix q = Int8Quantizer.symmetric(table, levels);
                embedding = keepInt8(q.values(), model);
                embeddingScales = keep(q.scales(), model);
            } else {
                embedding = tableIsHead ? lmHead.weight() : keep(table, model);
            }
            if (!tableIsHead) {
                gatheredOnlyBytes = bytesOf(embedding) + bytesOf(embeddingScales);
            }
            finalNorm = keep(read("model.norm.weight", hidden, scratch), model);
        }

        float scale = (float) (1.0 / Math.sqrt(c.headDim()));
        Sinks sinks = new Sinks(none, packer, levels, groupedPacker, int4Reader, onednnPacker);
        long inter = c.intermediateSize();
        List<LayerWeights> layers = new ArrayList<>(c.numLayers());
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            String a = p + "self_attn.";
            String m = p + "mlp.";
            try (NDManager scratch = scratch(model)) {
                NDArray qkvBias = c.qkvBias() ? concat(scratch, read(a + "q_proj.bias", c.qSize(), scratch),
                        read(a + "k_proj.bias", c.kvSize(), scratch), read(a + "v_proj.bias", c.kvSize(), scratch)) : null;
                NDArray qkNorm = null;
                long scaledRows = 0;
                if (c.qkNorm()) {
                    qkNorm = headNorm(model, scale, read(a + "q_norm.weight", c.headDim(), scratch),
                            read(a + "k_norm.weight", c.headDim(), scratch));
                } else {
                    scaledRows = c.qSize();
                    qkvBias = qkvBias == null ? null : scaleLeadingRows(qkvBias, c.qSize(), scale, scratch);
                }
                LayerProjection qkv = layerProjection(model, scratch, sinks, List.of(a + "q_proj", a + "k_proj", a + "v_proj"),
                        new long[] {c.qSize(), c.kvSize(), c.kvSize()}, hidden, p + "input_layernorm.weight", scaledRows, scale, qkvBias);
                LayerProjection o = layerProjection(model, scratch, sinks, List.of(a + "o_proj"), new long[] {hidden}, c.qSize(), null, 0, 1,
                        c.outputBias() ? read(a + "o_proj.bias", hidden, scratch) : null);
                NDArray gateUpBias = c.mlpBias() ? concat(scratch, read(m + "gate_proj.bias", inter, scratch),
                        read(m + "up_proj.bias", inter, scratch)) : null;
                LayerProjection gateUp = layerProjection(model, scratch, sinks, List.of(m + "gate_proj", m + "up_proj"),
                        new long[] {inter, inter}, hidden, p + "post_attention_layernorm.weight", 0, 1, gateUpBias);
                LayerProjection down = layerProjection(model, scratch, sinks, List.of(m + "down_proj"), new long[] {hidden}, inter, null, 0, 1,
                        c.mlpBias() ? read(m + "down_proj.bias", hidden, scratch) : null);
                layers.add(LayerWeights.of(qkv.norm(), qkv.projection(), qkNorm, o.projection(), gateUp.norm(), gateUp.projection(),
                        down.projection(), none));
            }
        }
        // An int8 LM head is packed after the layers (or alone), its place in the script's list: read again
        // rather than held in float32 through the whole load.
        if (quantization.lmHead()) {
            try (NDManager scratch = scratch(model)) {
                NDArray head = read(tied ? "model.embed_tokens.weight" : "lm_head.weight", c.vocabSize(), hidden, scratch);
                if (kernels == QuantizedKernels.SPILLWAY) {
                    groupedPacker.addInt8(head);
                } else {
                    packer.add(head, levels);
                }
            }
        }
        // So is the LM head's oneDNN copy.
        if (onednnPacker != null && lmHead != null) {
            onednnPacker.add(lmHead.weight());
        }
        Int8Weights packed = packer.finish();
        GroupedWeights grouped = groupedPacker.finish();
        OneDnnWeights onednn = onednnPacker == null ? OneDnnWeights.none() : onednnPacker.finish();
        try {
            RotaryEmbedding rope = new RotaryEmbedding(c.headDim(), c.ropeTheta(), c.ropeScaling(), maxModelLength,
                    this::toModelDtype, target.device(), model);
            DecoderConstants constants = new DecoderConstants(embedding, embeddingScales, layers, finalNorm, lmHeadWeight, packed, grouped,
                    onednn, rope.cos(), rope.signedSin(), c.rmsNormEps(), c.numHeads(), c.numKvHeads(), c.headDim());
            return new DecoderModel(c, target, layout, model, constants, summary(packed, grouped, onednn), maxModelLength, bf16);
        } catch (RuntimeException e) {
            packed.close();
            grouped.close();
            onednn.close();
            throw e;
        }
    }

    /**
     * oneDNN packs float32 weights (on the CPU, where alone its layout loads): a float checkpoint's,
     * neither quantized on load nor int4.
     */
    private boolean packsForOneDnn(QuantizationConfig.Int4 int4) {
        return layout == ProjectionLayout.ROW_BLOCKS_AND_ONEDNN && target.dtype() == DataType.FLOAT32 && !quantization.layers()
                && int4 == null;
    }

    private NDManager scratch(NDManager model) {
        fileViews.clear();
        return model.newSubManager(Device.cpu());
    }

    /** A float tensor as stored (bfloat16 widened to float32), checked against the config's shape; may alias the file. */
    private NDArray read(String name, long rows, long cols, NDManager scratch) {
        return remember(name, source.read(name, new long[] {rows, cols}, scratch));
    }

    private NDArray read(String name, long length, NDManager scratch) {
        return remember(name, source.read(name, new long[] {length}, scratch));
    }

    private NDArray remember(String name, NDArray view) {
        fileViews.add(view);
        if (!view.getDataType().isFloating()) {
            throw new CheckpointException("tensor " + name + " in " + source.describe() + " is " + view.getDataType()
                    + ", not a float weight");
        }
        return view;
    }

    /**
     * One of a layer's four projections, its {@code parts} (q, k, v; gate, up; or one) fused along
     * the outputs, with the RMSNorm {@code normName} (or none) in front and its first {@code scaledRows}
     * outputs multiplied by {@code scale}. An int4 checkpoint's parts go to the int4 kernel when it
     * takes them; anything else becomes a float weight, as stored or dequantized, with the norm folded in.
     *
     * @param bias the fused bias, already scaled, or null
     */
    private LayerProjection layerProjection(NDManager model, NDManager scratch, Sinks sinks, List<String> parts, long[] rows, long in,
                                            String normName, long scaledRows, float scale, NDArray bias) {
        NDArray norm = normName == null ? null : read(normName, config.hiddenSize(), scratch);
        Int4Reader reader = sinks.int4Reader();
        NDArray weight;
        if (reader != null && parts.stream().allMatch(reader::isInt4)) {
            List<Int4Matrix> unpacked = new ArrayList<>();
            for (int j = 0; j < parts.size(); j++) {
                unpacked.add(reader.read(parts.get(j), rows[j], in, scratch));
            }
            Int4Matrix fused = Int4Matrix.concatOutputs(unpacked).scaleLeadingOutputs(scaledRows, scale);
            switch (Int4Fit.of(fused.outputs(), in, fused.groupSize())) {
                case Int4Fit.Packed p -> {
                    sinks.grouped().add(fused.regrouped(p.groupSize()));
                    return new LayerProjection(Projection.packed(sinks.none(), bias == null ? null : keep(bias, model)),
                            norm == null ? null : keep(norm, model));
                }
                case Int4Fit.Dequantized d -> dequantized(d.reason(), parts);
            }
            weight = fused.dequantize();
        } else {
            List<NDArray> floats = new ArrayList<>();
            for (int j = 0; j < parts.size(); j++) {
                floats.add(reader != null && reader.isInt4(parts.get(j)) ? reader.read(parts.get(j), rows[j], in, scratch).dequantize()
                        : read(parts.get(j) + ".weight", rows[j], in, scratch));
            }
            if (reader != null) {
                dequantized("stored as float", parts);
            }
            weight = scaledRows > 0 ? scaleLeadingRows(concat(scratch, floats.toArray(NDArray[]::new)), scaledRows, scale, scratch)
                    : concat(scratch, floats.toArray(NDArray[]::new));
        }
        if (reader != null) {
            sinks.grouped().addDequantized();
        }
        if (norm != null) {
            weight = foldColumns(weight, norm);
        }
        return new LayerProjection(projection(model, sinks, weight, bias), null);
    }

    private void dequantized(String reason, List<String> parts) {
        dequantized.computeIfAbsent(reason, r -> new LinkedHashSet<>()).add(shortName(parts));
    }

    /** {@code self_attn.q_proj+k_proj+v_proj}: the parts' names without the layer, for the summary. */
    private static String shortName(List<String> parts) {
        StringBuilder name = new StringBuilder();
        for (String part : parts) {
            String[] path = part.split("\\.");
            String last = path[path.length - 1];
            name.append(name.isEmpty() ? path[path.length - 2] + "." + last : "+" + last);
        }
        return name.toString();
    }

    private static NDArray concat(NDManager scratch, NDArray... parts) {
        return NDArrays.concat(new NDList(parts), 0);
    }

    /** {@code W diag(w)}: an RMSNorm's weight moved into the projection that consumes its output. */
    private static NDArray foldColumns(NDArray weight, NDArray normWeight) {
        return weight.toType(DataType.FLOAT32, false).mul(normWeight.toType(DataType.FLOAT32, false).reshape(1, -1));
    }

    /** Multiplies the first {@code rows} rows (or entries) by {@code factor}, in float32. */
    private static NDArray scaleLeadingRows(NDArray x, long rows, float factor, NDManager scratch) {
        long total = x.getShape().get(0);
        float[] scales = new float[(int) total];
        for (int r = 0; r < total; r++) {
            scales[r] = r < rows ? factor : 1f;
        }
        NDArray s = scratch.create(scales);
        return x.toType(DataType.FLOAT32, false).mul(x.getShape().dimension() == 2 ? s.reshape(total, 1) : s);
    }

    /**
     * Qwen3's q_norm and k_norm as one weight over the adjacent q and k heads,
     * {@code [heads + kvHeads, headDim]}, with the attention scale folded into the query part.
     */
    private NDArray headNorm(NDManager model, float scale, NDArray q, NDArray k) {
        long d = config.headDim();
        NDArray qRows = q.toType(DataType.FLOAT32, false).mul(scale).reshape(1, d).repeat(0, config.numHeads());
        NDArray kRows = k.toType(DataType.FLOAT32, false).reshape(1, d).repeat(0, config.numKvHeads());
        return keep(NDArrays.concat(new NDList(qRows, kRows), 0), model);
    }

    private WeightSummary summary(Int8Weights packed, GroupedWeights grouped, OneDnnWeights onednn) {
        String dtype = target.dtype().toString().toLowerCase(java.util.Locale.ROOT);
        // By layout, not thread count, so that the name is the same on every machine (one thread runs one block).
        // oneDNN's linear is the script's choice for float32 row blocks only.
        String floatKernel = layout == ProjectionLayout.LINEAR ? "linear"
                : target.dtype() == DataType.FLOAT32 ? "bmm or oneDNN linear by rows" : "row-block bmm";
        String int8Kernel = kernels == QuantizedKernels.SPILLWAY ? GroupedWeights.INT8_KERNEL : Int8Weights.KERNEL;
        String headKernel = quantization.lmHead() ? int8Kernel : floatKernel;
        if (config.quantization() instanceof QuantizationConfig.Int4 q) {
            String head = quantization.lmHead() ? "int8 (" + int8Grid() + ")" : dtype;
            String format = q.describe() + " (LM head " + head + ", embeddings " + dtype + ")";
            int layerEntries = 4 * config.numLayers();
            // An int8 LM head on Spillway's kernel is the entry after the layers'.
            int onKernel = grouped.packedCount() - (grouped.size() > layerEntries ? 1 : 0);
            List<String> reasons = new ArrayList<>();
            dequantized.forEach((reason, names) -> reasons.add(String.join(", ", names) + ": " + reason));
            String rest = "dequantized to " + dtype + " at load, " + floatKernel + " (" + String.join("; ", reasons) + ")";
            String kernel = onKernel == layerEntries ? grouped.int4Kernel(target)
                    : onKernel == 0 ? rest
                    : grouped.int4Kernel(target) + " for " + onKernel + " of " + layerEntries + " projections, the others " + rest;
            return new WeightSummary(format, keptBytes + grouped.bytes() + packed.bytes(), kernel + "; LM head " + headKernel,
                    gatheredOnlyBytes);
        }
        if (!quantization.layers()) {
            if (onednn.size() == 0) {
                return new WeightSummary(dtype, keptBytes, floatKernel, gatheredOnlyBytes);
            }
            int refused = onednn.size() - onednn.packedCount();
            String kernel = "bmm at one row, else oneDNN linear over a packed copy"
                    + (refused == 0 ? "" : " (" + refused + " of " + onednn.size() + " projections refused packing: " + floatKernel + ")");
            return new WeightSummary(dtype, keptBytes + onednn.bytes(), kernel, onednn.bytes() + gatheredOnlyBytes);
        }
        String format = "int8 (" + int8Grid() + "; LM head "
                + (quantization.lmHead() ? "int8" : dtype) + ", embeddings " + (quantization.embeddings() ? "int8 per row" : dtype) + ")";
        String kernel = int8Kernel + (quantization.lmHead() ? "" : "; LM head " + floatKernel);
        return new WeightSummary(format, keptBytes + packed.bytes() + grouped.bytes(), kernel, gatheredOnlyBytes);
    }

    /** How the int8 weights are quantized, as the summary names it. */
    private String int8Grid() {
        return kernels == QuantizedKernels.SPILLWAY ? "symmetric in blocks of 32 inputs, 127 levels"
                : "per-channel asymmetric, " + Int8Quantizer.levelsForThisCpu() + " levels";
    }

    /**
     * A layer's projection: packed as int8 when the layers are quantized, else kept in the layout
     * (and packed for oneDNN beside it when the sinks say so).
     */
    private Projection projection(NDManager model, Sinks sinks, NDArray weight, NDArray bias) {
        if (!quantization.layers()) {
            Projection kept = projection(model, weight, bias);
            if (sinks.onednn() != null) {
                sinks.onednn().add(kept.weight());
            }
            return kept;
        }
        if (kernels == QuantizedKernels.SPILLWAY) {
            sinks.grouped().addInt8(weight);
        } else {
            sinks.int8().add(weight, sinks.levels());
        }
        return Projection.packed(sinks.none(), bias == null ? null : keep(bias, model));
    }

    private Projection projection(NDManager model, NDArray weight, NDArray bias) {
        long rows = weight.getShape().get(0);
        return new Projection(keep(weight, model), bias == null ? null : keep(bias, model), Projection.partsFor(rows, threads));
    }

    /** Moves an int8 array, quantized in scratch, into the model on the target device, as it is. */
    private NDArray keepInt8(NDArray array, NDManager model) {
        NDArray moved = array.toDevice(target.device(), false);
        moved.attach(model);
        keptBytes += bytesOf(moved);
        return moved;
    }

    /**
     * {@code array} in the model's dtype as DJL holds it, on its device; a new array belongs to
     * {@code array}'s manager. bfloat16 is rounded once, from whatever float dtype the array has (a
     * BF16 checkpoint's widened values round back to their own bits).
     */
    private NDArray toModelDtype(NDArray array) {
        return bf16 == null ? array.toType(target.dtype(), false) : bf16.round(array, array.getManager());
    }

    private static long bytesOf(NDArray array) {
        return array.size() * array.getDataType().getNumOfBytes();
    }

    /**
     * Converts to the target dtype and device and moves the result into the model. {@code toType}
     * and {@code toDevice} return their input when there is nothing to convert; if that input is a
     * view of the file, it is copied so the model never points into the mapping. The cast comes
     * first, on the host: a float32 copy made on a GPU would stay in CUDA's caching allocator after
     * the cast, memory the KV cache is then sized without.
     */
    private NDArray keep(NDArray array, NDManager model) {
        NDArray converted = toModelDtype(array).toDevice(target.device(), false);
        if (converted == array && fileViews.contains(array)) {
            converted = array.duplicate();
        }
        converted.attach(model);
        keptBytes += bytesOf(converted);
        return converted;
    }
}
