package io.spillway.server.wire;

import java.util.Locale;

/** Who speaks a chat message. OpenAI's "developer" role is read as {@link #SYSTEM}, which chat templates know. */
public enum Role {
    SYSTEM, USER, ASSISTANT, TOOL, FUNCTION;

    /** The role as chat templates and OpenAI name it. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
