package io.spillway.models.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The shape and features of a decoder-only model, read from a Hugging Face {@code config.json}.
 * One record drives one transformer implementation for every supported architecture.
 *
 * @param architecture         which HF class the checkpoint was saved from
 * @param hiddenSize           residual stream width
 * @param intermediateSize     MLP width
 * @param numLayers            decoder layers
 * @param numHeads             query heads
 * @param numKvHeads           key/value heads (fewer than numHeads for grouped-query attention)
 * @param headDim              width of one head (Qwen3 sets it explicitly; else hidden/heads)
 * @param vocabSize            rows of the embedding and of the LM head
 * @param maxPositionEmbeddings longest context the model supports
 * @param rmsNormEps           epsilon inside RMSNorm's square root
 * @param ropeTheta            RoPE base
 * @param ropeScaling          long-context frequency rescaling
 * @param tieWordEmbeddings    the LM head reuses the embedding matrix
 * @param qkvBias              q, k and v projections have biases
 * @param outputBias           the attention output projection has a bias
 * @param mlpBias              the MLP projections have biases
 * @param qkNorm               each query and key head is RMS-normalized before RoPE
 * @param slidingWindows       per layer, the attention window in tokens, or 0 for full attention
 * @param bosTokenId           beginning-of-sequence id, or -1
 * @param eosTokenIds          end-of-sequence ids (may be empty)
 * @param torchDtype           the dtype the checkpoint was saved in, as written ("bfloat16"), or null
 * @param quantization         how the layer projections are stored: float, or AWQ/GPTQ int4
 */
public record ModelConfig(
        Architecture architecture,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean outputBias,
        boolean mlpBias,
        boolean qkNorm,
        int[] slidingWindows,
        int bosTokenId,
        List<Integer> eosTokenIds,
        String torchDtype,
        QuantizationConfig quantization) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public ModelConfig {
        slidingWindows = slidingWindows.clone();
        eosTokenIds = List.copyOf(eosTokenIds);
        require(hiddenSize > 0, "hidden_size must be positive");
        require(intermediateSize > 0, "intermediate_size must be positive");
        require(numLayers > 0, "num_hidden_layers must be positive");
        require(numHeads > 0, "num_attention_heads must be positive");
        require(numKvHeads > 0 && numHeads % numKvHeads == 0,
                "num_attention_heads (" + numHeads + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
        require(headDim > 0 && headDim % 2 == 0, "head_dim must be positive and even, was " + headDim);
        require(vocabSize > 0, "vocab_size must be positive");
        require(maxPositionEmbeddings > 0, "max_position_embeddings must be positive");
        require(slidingWindows.length == numLayers, "one sliding window entry per layer");
    }

    @Override
    public int[] slidingWindows() {
        return slidingWindows.clone();
    }

    public int qSize() {
        return numHeads * headDim;
    }

    public int kvSize() {
        return numKvHeads * headDim;
    }

    /** Parameters of the model, counting a tied embedding once. */
    public long parameterCount() {
        long attention = (long) hiddenSize * (qSize() + 2L * kvSize()) + (long) qSize() * hiddenSize;
        long mlp = 3L * hiddenSize * intermediateSize;
        long perLayer = attention + mlp + 2L * hiddenSize + (qkNorm ? 2L * headDim : 0);
        long embeddings = (long) vocabSize * hiddenSize * (tieWordEmbeddings ? 1 : 2);
        return perLayer * numLayers + embeddings + hiddenSize;
    }

    /** Reads {@code config.json}; errors name the file and the offending key. */
    public static ModelConfig load(Path configJson) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(configJson));
        } catch (NoSuchFileException e) {
            throw new CheckpointException("missing " + configJson + ": a model directory needs a config.json");
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + configJson + ": " + e.getMessage(), e);
        }
        try {
            return parse(root);
        } catch (CheckpointException e) {
            throw new CheckpointException(configJson + ": " + e.getMessage(), e);
        }
    }

    public static ModelConfig parse(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new CheckpointException("config is not a JSON object");
        }
        Architecture arch = parseArchitecture(root);
        int hidden = requiredInt(root, "hidden_size");
        int heads = requiredInt(root, "num_attention_heads");
        int kvHeads = root.path("num_key_value_heads").isNumber() ? root.get("num_key_value_heads").asInt() : heads;
        int headDim = root.path("head_dim").isNumber() ? root.get("head_dim").asInt() : hidden / heads;
        int layers = requiredInt(root, "num_hidden_layers");
        String act = root.path("hidden_act").asText("silu");
        if (!act.equals("silu") && !act.equals("swish")) {
            throw new CheckpointException("hidden_act '" + act + "' is not supported (only silu)");
        }
        JsonNode ropeNode = root.has("rope_scaling") && !root.get("rope_scaling").isNull()
                ? root.get("rope_scaling") : root.path("rope_parameters");
        double theta = root.path("rope_theta").isNumber() ? root.get("rope_theta").asDouble()
                : ropeNode.path("rope_theta").asDouble(10000.0);
        int maxPos = root.path("max_position_embeddings").asInt(2048);
        boolean attentionBias = root.path("attention_bias").asBoolean(false);
        return new ModelConfig(
                arch,
                hidden,
                requiredInt(root, "intermediate_size"),
                layers,
                heads,
                kvHeads,
                headDim,
                requiredInt(root, "vocab_size"),
                maxPos,
                root.path("rms_norm_eps").asDouble(1e-6),
                theta,
                parseRopeScaling(ropeNode, maxPos),
                root.path("tie_word_embeddings").asBoolean(false),
                arch.qkvBias() || attentionBias,
                // Llama's attention_bias puts a bias on o_proj too; Qwen2's q/k/v biases do not.
                attentionBias && arch != Architecture.QWEN2,
                root.path("mlp_bias").asBoolean(false),
                arch.qkNorm(),
                parseSlidingWindows(root, arch, layers),
                root.path("bos_token_id").isNumber() ? root.get("bos_token_id").asInt() : -1,
                intList(root.get("eos_token_id")),
                root.has("torch_dtype") ? root.get("torch_dtype").asText() : root.path("dtype").asText(null),
                QuantizationConfig.parse(root.get("quantization_config")));
    }

    private static Architecture parseArchitecture(JsonNode root) {
        JsonNode archs = root.get("architectures");
        if (archs == null || !archs.isArray() || archs.isEmpty()) {
            throw new CheckpointException("no \"architectures\" entry; supported: " + Architecture.supportedNames());
        }
        String name = archs.get(0).asText();
        return Architecture.fromHfName(name).orElseThrow(() -> new CheckpointException(
                "unsupported architecture " + name + "; supported: " + Architecture.supportedNames()));
    }

    private static RopeScaling parseRopeScaling(JsonNode node, int maxPos) {
        if (node == null || !node.isObject()) {
            return RopeScaling.NONE;
        }
        String type = node.has("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("default");
        double factor = node.path("factor").asDouble(1.0);
        return switch (type) {
            case "default" -> RopeScaling.NONE;
            case "linear" -> new RopeScaling(RopeScaling.Type.LINEAR, factor, 0, 0, 0);
            case "llama3" -> new RopeScaling(RopeScaling.Type.LLAMA3, factor,
                    node.path("low_freq_factor").asDouble(1.0),
                    node.path("high_freq_factor").asDouble(4.0),
                    node.path("original_max_position_embeddings").asInt(maxPos));
            default -> throw new CheckpointException("rope_scaling type '" + type
                    + "' is not supported (supported: default, linear, llama3)");
        };
    }

    /**
     * Which layers use sliding-window attention. An explicit {@code layer_types} wins; otherwise
     * Mistral windows every layer, and Qwen2/3 window the layers from {@code max_window_layers}
     * on when {@code use_sliding_window} is set, as transformers does.
     */
    private static int[] parseSlidingWindows(JsonNode root, Architecture arch, int layers) {
        int[] windows = new int[layers];
        int window = root.path("sliding_window").isNumber() ? root.get("sliding_window").asInt() : 0;
        JsonNode types = root.get("layer_types");
        if (types != null && types.isArray()) {
            if (types.size() != layers) {
                throw new CheckpointException("layer_types has " + types.size() + " entries for " + layers + " layers");
            }
            for (int i = 0; i < layers; i++) {
                windows[i] = "sliding_attention".equals(types.get(i).asText()) ? window : 0;
            }
            return windows;
        }
        switch (arch) {
            case MISTRAL -> Arrays.fill(windows, window);
            case QWEN2, QWEN3 -> {
                if (root.path("use_sliding_window").asBoolean(false)) {
                    int from = root.path("max_window_layers").asInt(layers);
                    for (int i = from; i < layers; i++) {
                        windows[i] = window;
                    }
                }
            }
            default -> { }
        }
        return windows;
    }

    private static int requiredInt(JsonNode root, String key) {
        JsonNode node = root.get(key);
        if (node == null || !node.canConvertToInt()) {
            throw new CheckpointException("missing or non-integer \"" + key + "\"");
        }
        return node.asInt();
    }

    static List<Integer> intList(JsonNode node) {
        List<Integer> out = new ArrayList<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (node.isArray()) {
            node.forEach(n -> out.add(n.asInt()));
        } else if (node.isNumber()) {
            out.add(node.asInt());
        }
        return out;
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new CheckpointException(message);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig c && toString().equals(c.toString());
    }

    @Override
    public int hashCode() {
        return toString().hashCode();
    }

    @Override
    public String toString() {
        return "ModelConfig[" + architecture.hfName() + " hidden=" + hiddenSize + " intermediate=" + intermediateSize
                + " layers=" + numLayers + " heads=" + numHeads + "/" + numKvHeads + " headDim=" + headDim
                + " vocab=" + vocabSize + " maxPos=" + maxPositionEmbeddings + " eps=" + rmsNormEps
                + " theta=" + ropeTheta + " rope=" + ropeScaling + " tied=" + tieWordEmbeddings
                + " qkvBias=" + qkvBias + " oBias=" + outputBias + " mlpBias=" + mlpBias + " qkNorm=" + qkNorm
                + " windows=" + Arrays.toString(slidingWindows) + " bos=" + bosTokenId + " eos=" + eosTokenIds
                + " dtype=" + torchDtype + " weights=" + quantization.describe() + "]";
    }
}
