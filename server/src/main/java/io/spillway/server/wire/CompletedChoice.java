package io.spillway.server.wire;

import java.util.List;
import java.util.Optional;

/** One choice of a whole (non-streamed) completion. */
public record CompletedChoice(int index, String text, int[] tokenIds, List<Logprob> logprobs, FinishReason finishReason,
                              Optional<StopReason> stopReason) {

    public CompletedChoice {
        tokenIds = tokenIds.clone();
        logprobs = List.copyOf(logprobs);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }
}
