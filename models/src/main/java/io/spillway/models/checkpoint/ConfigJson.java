package io.spillway.models.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Hugging Face config.json documents, for models Spillway writes itself (demo, tests, benchmarks). */
public final class ConfigJson {

    private static final ObjectMapper JSON = new ObjectMapper();

    private ConfigJson() {
    }

    /** A LlamaForCausalLM config of these shapes (SiLU, RMSNorm eps 1e-5, RoPE base 10000); callers add the rest. */
    public static ObjectNode llama(int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab, int maxPositions,
                                   boolean tiedEmbeddings) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add(Architecture.LLAMA.hfName());
        c.put("model_type", "llama");
        c.put("hidden_size", hidden);
        c.put("intermediate_size", intermediate);
        c.put("num_hidden_layers", layers);
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", kvHeads);
        c.put("vocab_size", vocab);
        c.put("max_position_embeddings", maxPositions);
        c.put("rms_norm_eps", 1e-5);
        c.put("rope_theta", 10000.0);
        c.put("tie_word_embeddings", tiedEmbeddings);
        c.put("hidden_act", "silu");
        return c;
    }
}
