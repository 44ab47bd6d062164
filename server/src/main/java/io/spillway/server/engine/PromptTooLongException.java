package io.spillway.server.engine;

/** A prompt that leaves no room to generate within the model's context window. */
public final class PromptTooLongException extends IllegalArgumentException {

    private final int promptTokens;
    private final int maxModelLength;

    public PromptTooLongException(int promptTokens, int maxModelLength) {
        super("This model's maximum context length is " + maxModelLength + " tokens. However, your prompt has "
                + promptTokens + " tokens, which leaves no room to generate.");
        this.promptTokens = promptTokens;
        this.maxModelLength = maxModelLength;
    }

    public int promptTokens() {
        return promptTokens;
    }

    public int maxModelLength() {
        return maxModelLength;
    }
}
