package io.spillway.models.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.testing.TinyCheckpoint;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModelConfigTest {

    private static ModelConfig parse(TinyCheckpoint c) {
        return ModelConfig.parse(c.config());
    }

    @Test
    void defaultsFollowTransformers() {
        ObjectNode n = TinyCheckpoint.llama().config().deepCopy();
        n.remove("num_key_value_heads");
        n.remove("tie_word_embeddings");
        ModelConfig c = ModelConfig.parse(n);
        assertEquals(4, c.numKvHeads(), "no num_key_value_heads means multi-head attention");
        assertEquals(16, c.headDim(), "head_dim defaults to hidden / heads");
        assertFalse(c.tieWordEmbeddings(), "Llama's default is an untied head");
        assertEquals(List.of(2), c.eosTokenIds());
    }

    /** The Hub's spellings: AutoAWQ's config (w_bit, q_group_size in older ones), AutoGPTQ's and GPTQModel's. */
    @Test
    void quantizationConfigIsReadAsTheHubWritesIt() {
        assertEquals(QuantizationConfig.NONE, parse(TinyCheckpoint.llama()).quantization());
        ModelConfig awq = parse(TinyCheckpoint.llama().set("quantization_config",
                Map.of("quant_method", "awq", "bits", 4, "group_size", 128, "zero_point", true, "version", "gemm")));
        assertEquals(new QuantizationConfig.Int4(Int4Packing.AWQ, 128), awq.quantization());
        assertEquals("awq-int4 g128", awq.quantization().describe());
        ModelConfig oldAwq = parse(TinyCheckpoint.llama().set("quantization_config",
                Map.of("quant_method", "awq", "w_bit", 4, "q_group_size", 64, "zero_point", true, "version", "GEMM")));
        assertEquals(new QuantizationConfig.Int4(Int4Packing.AWQ, 64), oldAwq.quantization());
        ModelConfig gptq = parse(TinyCheckpoint.llama().set("quantization_config",
                Map.of("quant_method", "gptq", "bits", 4, "group_size", -1, "desc_act", false, "sym", true)));
        assertEquals(new QuantizationConfig.Int4(Int4Packing.GPTQ, -1), gptq.quantization());
        assertEquals("gptq-int4 per-channel", gptq.quantization().describe());
        assertEquals(96, ((QuantizationConfig.Int4) gptq.quantization()).groupSize(96));
        ModelConfig v2 = parse(TinyCheckpoint.llama().set("quantization_config",
                Map.of("quant_method", "gptq", "bits", 4, "group_size", 32, "checkpoint_format", "gptq_v2")));
        assertEquals(Int4Packing.GPTQ_V2, ((QuantizationConfig.Int4) v2.quantization()).packing());
        CheckpointException missing = assertThrows(CheckpointException.class, () -> parse(TinyCheckpoint.llama().set("quantization_config",
                Map.of("quant_method", "gptq", "bits", 4))));
        assertTrue(missing.getMessage().contains("group_size missing"), missing.getMessage());
    }

    @Test
    void qwen3HasExplicitHeadDimAndQkNorm() {
        ModelConfig c = parse(TinyCheckpoint.llama().architecture("Qwen3ForCausalLM").set("head_dim", 32));
        assertEquals(32, c.headDim());
        assertEquals(128, c.qSize(), "q width is heads * head_dim, not hidden");
        assertTrue(c.qkNorm());
        assertFalse(c.qkvBias());
    }

    @Test
    void qwen2HasQkvBiasButNoOutputBias() {
        ModelConfig c = parse(TinyCheckpoint.llama().architecture("Qwen2ForCausalLM"));
        assertTrue(c.qkvBias());
        assertFalse(c.outputBias());
        ModelConfig llama = parse(TinyCheckpoint.llama().set("attention_bias", true));
        assertTrue(llama.qkvBias() && llama.outputBias(), "Llama's attention_bias covers o_proj too");
    }

    @Test
    void slidingWindowsPerLayer() {
        assertArrayEquals(new int[] {8, 8, 8}, parse(TinyCheckpoint.llama().architecture("MistralForCausalLM").set("sliding_window", 8)).slidingWindows());
        assertArrayEquals(new int[] {0, 0, 0}, parse(TinyCheckpoint.llama().architecture("MistralForCausalLM")).slidingWindows(),
                "Mistral v0.3 sets sliding_window null");
        assertArrayEquals(new int[] {0, 0, 0}, parse(TinyCheckpoint.llama().architecture("Qwen2ForCausalLM").set("sliding_window", 8)).slidingWindows(),
                "Qwen2 ignores sliding_window unless use_sliding_window");
        assertArrayEquals(new int[] {0, 8, 8}, parse(TinyCheckpoint.llama().architecture("Qwen2ForCausalLM").set("sliding_window", 8)
                .set("use_sliding_window", true).set("max_window_layers", 1)).slidingWindows());
        assertArrayEquals(new int[] {8, 0, 8}, parse(TinyCheckpoint.llama().set("sliding_window", 8)
                .set("layer_types", List.of("sliding_attention", "full_attention", "sliding_attention"))).slidingWindows());
    }

    @Test
    void ropeScalingFromEitherKey() {
        Map<String, Object> llama3 = Map.of("rope_type", "llama3", "factor", 32.0, "low_freq_factor", 1.0,
                "high_freq_factor", 4.0, "original_max_position_embeddings", 8192);
        ModelConfig a = parse(TinyCheckpoint.llama().set("rope_scaling", llama3));
        assertEquals(RopeScaling.Type.LLAMA3, a.ropeScaling().type());
        assertEquals(8192, a.ropeScaling().originalMaxPositions());
        // transformers 5 writes rope_parameters, with rope_theta inside it.
        ObjectNode n = TinyCheckpoint.llama().config().deepCopy();
        n.remove("rope_theta");
        n.set("rope_parameters", new ObjectMapper().valueToTree(Map.of("rope_type", "default", "rope_theta", 1000000.0)));
        ModelConfig b = ModelConfig.parse(n);
        assertEquals(1_000_000.0, b.ropeTheta());
        assertEquals(RopeScaling.Type.NONE, b.ropeScaling().type());
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> parse(TinyCheckpoint.llama().set("rope_scaling", Map.of("rope_type", "yarn", "factor", 4.0))));
        assertTrue(e.getMessage().contains("yarn"));
    }

    @Test
    void llama3FrequenciesKeepHighAndScaleLowBands() {
        RopeScaling s = new RopeScaling(RopeScaling.Type.LLAMA3, 8, 1, 4, 8192);
        double[] plain = RopeScaling.NONE.inverseFrequencies(128, 500000);
        double[] scaled = s.inverseFrequencies(128, 500000);
        assertEquals(plain[0], scaled[0], 0, "short wavelengths are kept");
        assertEquals(plain[63] / 8, scaled[63], 1e-18, "long wavelengths are divided by the factor");
    }

    @Test
    void rejectsInconsistentHeads() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> parse(TinyCheckpoint.llama().set("num_key_value_heads", 3)));
        assertTrue(e.getMessage().contains("num_key_value_heads"));
        assertThrows(CheckpointException.class, () -> parse(TinyCheckpoint.llama().set("hidden_act", "gelu")));
    }

    @Test
    void parameterCountOfSmolLm2Shape() {
        ModelConfig c = parse(TinyCheckpoint.llama().set("hidden_size", 576).set("intermediate_size", 1536).set("num_hidden_layers", 30)
                .set("num_attention_heads", 9).set("num_key_value_heads", 3).set("vocab_size", 49152).set("tie_word_embeddings", true));
        assertEquals(134_515_008L, c.parameterCount());
    }
}
