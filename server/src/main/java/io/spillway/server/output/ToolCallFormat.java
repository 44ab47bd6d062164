package io.spillway.server.output;

import java.util.Locale;
import java.util.Optional;

/** How a model family writes tool calls in its answers, read from its chat template. */
public enum ToolCallFormat {
    /** {@code <tool_call>{"name": ..., "arguments": ...}</tool_call>}: Hermes, Qwen2.5, Qwen3. */
    HERMES,
    /** Bare {@code {"name": ..., "parameters": ...}} objects: Llama 3.1 and 3.2. */
    LLAMA3_JSON,
    /** {@code [TOOL_CALLS] [{"name": ..., "arguments": ...}]}: Mistral. */
    MISTRAL;

    static final String HERMES_OPEN = "<tool_call>";
    static final String HERMES_CLOSE = "</tool_call>";
    static final String MISTRAL_MARKER = "[TOOL_CALLS]";

    /** The format a chat template asks its model for, if it names one. */
    public static Optional<ToolCallFormat> of(String template) {
        if (template.contains(HERMES_OPEN)) {
            return Optional.of(HERMES);
        }
        if (template.contains(MISTRAL_MARKER)) {
            return Optional.of(MISTRAL);
        }
        if (template.contains("\"parameters\": ") && template.contains("<|eot_id|>")) {
            return Optional.of(LLAMA3_JSON);
        }
        return Optional.empty();
    }

    public static ToolCallFormat parse(String name) {
        try {
            return valueOf(name.strip().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown tool-call format '" + name + "'; expected hermes, llama3_json or mistral");
        }
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public ToolCallParser parser() {
        return switch (this) {
            case HERMES -> new TaggedToolCalls(HERMES_OPEN, HERMES_CLOSE, new ToolCallIds("call_", 24));
            case LLAMA3_JSON -> new JsonToolCalls(new ToolCallIds("call_", 24));
            case MISTRAL -> new ArrayToolCalls(MISTRAL_MARKER, new ToolCallIds("", 9));
        };
    }

    /** Whether the format's markup is a special token a detokenizer skipping special tokens would drop. */
    public boolean markupIsSpecialToken() {
        return this == MISTRAL;
    }
}
