package io.spillway.server.wire;

import java.util.List;
import java.util.Optional;

/**
 * One choice of a whole (non-streamed) completion.
 *
 * @param reasoning a thinking model's reasoning, kept out of the text
 * @param toolCalls the calls the model made, in order
 */
public record CompletedChoice(int index, String text, Optional<String> reasoning, List<ToolCall> toolCalls, int[] tokenIds,
                              List<Logprob> logprobs, FinishReason finishReason, Optional<StopReason> stopReason) {

    public CompletedChoice {
        toolCalls = List.copyOf(toolCalls);
        tokenIds = tokenIds.clone();
        logprobs = List.copyOf(logprobs);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }
}
