package io.spillway.server.wire;

import java.util.Locale;

/** Why a choice ended, in OpenAI's words. */
public enum FinishReason {
    /** A stop token, end of sequence, or a stop string. */
    STOP,
    /** max_tokens or the model's context. */
    LENGTH,
    /** A content filter ended it. */
    CONTENT_FILTER,
    /** The model called tools. */
    TOOL_CALLS;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
