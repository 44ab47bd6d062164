package io.spillway.models;

import java.util.Locale;

/** Where weights come from, as vLLM's {@code --load-format}. */
public enum LoadFormat {
    /** The directory's safetensors (single file or sharded). */
    AUTO,
    /** Random weights of the shapes in config.json; tokenizer and templates are used as they are. */
    DUMMY;

    public static LoadFormat parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "auto", "safetensors" -> AUTO;
            case "dummy" -> DUMMY;
            default -> throw new IllegalArgumentException("unknown load format '" + s + "' (auto, dummy)");
        };
    }
}
