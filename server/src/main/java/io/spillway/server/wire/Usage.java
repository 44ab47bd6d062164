package io.spillway.server.wire;

/**
 * Tokens a response consumed and produced, and what it cost at the configured prices.
 *
 * @param cachedTokens    prompt tokens served from a prefix cache
 * @param reasoningTokens completion tokens spent on reasoning (a thinking model's block)
 */
public record Usage(int promptTokens, int completionTokens, int cachedTokens, int reasoningTokens, double costUsd) {

    public static final Usage NONE = new Usage(0, 0, 0, 0);

    public Usage(int promptTokens, int completionTokens, int cachedTokens, double costUsd) {
        this(promptTokens, completionTokens, cachedTokens, 0, costUsd);
    }

    public int totalTokens() {
        return promptTokens + completionTokens;
    }

    public Usage plus(Usage other) {
        return new Usage(promptTokens + other.promptTokens, completionTokens + other.completionTokens, cachedTokens + other.cachedTokens,
                reasoningTokens + other.reasoningTokens, costUsd + other.costUsd);
    }

    public Usage withCost(double dollars) {
        return new Usage(promptTokens, completionTokens, cachedTokens, reasoningTokens, dollars);
    }
}
