package io.spillway.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.function.ToIntFunction;

/** Rewrites a conversation before it is rendered, e.g. to put retrieved passages into it. */
@FunctionalInterface
public interface ChatAugmenter {

    /** The rewritten messages and what the response should report about it (its "sources"). */
    record Augmented(List<Object> messages, JsonNode sources) {
    }

    /**
     * @param messages the normalized conversation
     * @param promptTokens renders a conversation with the model's template and counts its tokens
     * @param tokenBudget the most prompt tokens the result may take
     */
    Augmented augment(List<Object> messages, ToIntFunction<List<Object>> promptTokens, int tokenBudget);
}
