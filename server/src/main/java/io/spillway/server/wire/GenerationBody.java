package io.spillway.server.wire;

/** A request that generates text: a chat completion or a legacy completion. */
public sealed interface GenerationBody permits ChatRequest, CompletionRequest {

    String model();

    GenerationOptions options();

    Delivery delivery();

    /** The endpoint's short name, as metrics and the audit log use it. */
    String endpoint();

    /** The prompt as one text, as the semantic cache embeds it and the audit log may keep it. */
    String promptText();
}
