package io.spillway.server.generation;

import io.spillway.server.wire.ChatRequest;

/** Measures chat prompts as the local model will read them, for stages that fit text into its context. */
public interface PromptMeter {

    /** Tokens of the conversation rendered with the model's chat template. */
    int promptTokens(ChatRequest request);

    /** The model's longest context. */
    int maxModelLength();
}
