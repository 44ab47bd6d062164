package io.spillway.models.checkpoint;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The Hugging Face architectures Spillway runs. They are all the same decoder-only transformer; an
 * architecture only fixes the defaults of the features that {@link ModelConfig} switches on.
 */
public enum Architecture {
    LLAMA("LlamaForCausalLM", false, false),
    MISTRAL("MistralForCausalLM", false, false),
    /** Qwen2 always has biases on the q, k and v projections (not on o). */
    QWEN2("Qwen2ForCausalLM", true, false),
    /** Qwen3 normalizes each query and key head (RMSNorm over head_dim) before RoPE. */
    QWEN3("Qwen3ForCausalLM", false, true);

    private final String hfName;
    private final boolean qkvBias;
    private final boolean qkNorm;

    Architecture(String hfName, boolean qkvBias, boolean qkNorm) {
        this.hfName = hfName;
        this.qkvBias = qkvBias;
        this.qkNorm = qkNorm;
    }

    public String hfName() {
        return hfName;
    }

    public boolean qkvBias() {
        return qkvBias;
    }

    public boolean qkNorm() {
        return qkNorm;
    }

    public static Optional<Architecture> fromHfName(String name) {
        return Arrays.stream(values()).filter(a -> a.hfName.equals(name)).findFirst();
    }

    public static String supportedNames() {
        return Arrays.stream(values()).map(Architecture::hfName).collect(Collectors.joining(", "));
    }
}
