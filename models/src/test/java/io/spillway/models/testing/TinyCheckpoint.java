package io.spillway.models.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.checkpoint.ConfigJson;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.checkpoint.SafetensorsWriter;
import io.spillway.models.checkpoint.TensorDType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Writes small Hugging Face checkpoints with random weights: a config.json plus safetensors in the
 * layout transformers saves, optionally in a storage dtype other than F32 and sharded.
 */
public final class TinyCheckpoint {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final ObjectNode config;
    private TensorDType dtype = TensorDType.F32;
    private int shards = 1;
    private long seed = 7;
    private double scale = 0.15;
    private double normCenter = 1;
    private final Map<String, Consumer<float[]>> edits = new LinkedHashMap<>();

    private TinyCheckpoint(ObjectNode config) {
        this.config = config;
    }

    /** A Llama-shaped config: hidden 64, 4 heads of 16, 2 KV heads, 3 layers, vocab 96. */
    public static TinyCheckpoint llama() {
        ObjectNode c = ConfigJson.llama(64, 112, 3, 4, 2, 96, 256, false);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        return new TinyCheckpoint(c);
    }

    public ObjectNode config() {
        return config;
    }

    public TinyCheckpoint set(String key, Object value) {
        config.set(key, JSON.valueToTree(value));
        return this;
    }

    public TinyCheckpoint architecture(String name) {
        config.putArray("architectures").add(name);
        return this;
    }

    public TinyCheckpoint dtype(TensorDType d) {
        this.dtype = d;
        return this;
    }

    public TinyCheckpoint shards(int n) {
        this.shards = n;
        return this;
    }

    /**
     * Norm weights around {@code center} instead of 1: every projection's input grows by that
     * factor, so a large one makes activations that fit float32 overflow float16 (max 65,504).
     */
    public TinyCheckpoint normCenter(double center) {
        this.normCenter = center;
        return this;
    }

    public TinyCheckpoint seed(long s) {
        this.seed = s;
        return this;
    }

    /** Changes the random values of tensor {@code name} (row-major) before they are written, for a test that needs some exact. */
    public TinyCheckpoint edit(String name, Consumer<float[]> edit) {
        edits.merge(name, edit, Consumer::andThen);
        return this;
    }

    /** Writes config.json and the weights into {@code dir} (created if needed) and returns it. */
    public Path writeTo(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
        ModelConfig c = ModelConfig.parse(config);
        Map<String, long[]> shapes = tensorShapes(c);
        Random random = new Random(seed);
        List<SafetensorsWriter> writers = new ArrayList<>();
        for (int i = 0; i < shards; i++) {
            writers.add(new SafetensorsWriter());
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        int k = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            int n = 1;
            for (long d : shape) {
                n *= (int) d;
            }
            float[] values = new float[n];
            boolean norm = name.endsWith("norm.weight");
            for (int i = 0; i < n; i++) {
                values[i] = norm ? (float) (normCenter * (1 + 0.2 * (2 * random.nextDouble() - 1))) : (float) (scale * random.nextGaussian());
            }
            edits.getOrDefault(name, v -> { }).accept(values);
            int shard = k++ % shards;
            writers.get(shard).add(name, dtype, shape, values);
            weightMap.put(name, shardName(shard));
        }
        if (shards == 1) {
            writers.get(0).write(dir.resolve("model.safetensors"));
        } else {
            for (int i = 0; i < shards; i++) {
                writers.get(i).write(dir.resolve(shardName(i)));
            }
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata");
            ObjectNode map = index.putObject("weight_map");
            weightMap.forEach(map::put);
            Files.writeString(dir.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index));
        }
        return dir;
    }

    /** Writes only config.json (for configs the loader must reject before reading weights). */
    public Path writeToConfigOnly(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(config));
        return dir;
    }

    private String shardName(int i) {
        return String.format("model-%05d-of-%05d.safetensors", i + 1, shards);
    }

    /** The tensors transformers saves for this config, with their shapes. */
    public static Map<String, long[]> tensorShapes(ModelConfig c) {
        Map<String, long[]> t = new LinkedHashMap<>();
        long h = c.hiddenSize();
        t.put("model.embed_tokens.weight", new long[] {c.vocabSize(), h});
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            t.put(p + "input_layernorm.weight", new long[] {h});
            t.put(p + "self_attn.q_proj.weight", new long[] {c.qSize(), h});
            t.put(p + "self_attn.k_proj.weight", new long[] {c.kvSize(), h});
            t.put(p + "self_attn.v_proj.weight", new long[] {c.kvSize(), h});
            if (c.qkvBias()) {
                t.put(p + "self_attn.q_proj.bias", new long[] {c.qSize()});
                t.put(p + "self_attn.k_proj.bias", new long[] {c.kvSize()});
                t.put(p + "self_attn.v_proj.bias", new long[] {c.kvSize()});
            }
            if (c.qkNorm()) {
                t.put(p + "self_attn.q_norm.weight", new long[] {c.headDim()});
                t.put(p + "self_attn.k_norm.weight", new long[] {c.headDim()});
            }
            t.put(p + "self_attn.o_proj.weight", new long[] {h, c.qSize()});
            if (c.outputBias()) {
                t.put(p + "self_attn.o_proj.bias", new long[] {h});
            }
            t.put(p + "post_attention_layernorm.weight", new long[] {h});
            t.put(p + "mlp.gate_proj.weight", new long[] {c.intermediateSize(), h});
            t.put(p + "mlp.up_proj.weight", new long[] {c.intermediateSize(), h});
            t.put(p + "mlp.down_proj.weight", new long[] {h, c.intermediateSize()});
        }
        t.put("model.norm.weight", new long[] {h});
        if (!c.tieWordEmbeddings()) {
            t.put("lm_head.weight", new long[] {c.vocabSize(), h});
        }
        return t;
    }
}
