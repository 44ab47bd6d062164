package io.spillway.server.engine;

import io.spillway.models.sampling.Sample;
import java.util.List;

/**
 * What one sample of a request produced since the last delta.
 *
 * @param index        which of the request's n samples
 * @param tokenIds     new token ids
 * @param text         new text, minus anything held back because it might begin a stop string
 * @param logprobs     per new token, when logprobs were asked for (else empty)
 * @param finishReason set on the sample's last delta
 * @param stopReason   the stop string or stop token id that ended it, if any
 * @param usage        set on the request's very last delta
 * @param error        set when the request failed
 */
public record RequestDelta(int index, int[] tokenIds, String text, List<Sample> logprobs, FinishReason finishReason,
                           Object stopReason, Usage usage, String error) {

    public RequestDelta {
        tokenIds = tokenIds.clone();
        logprobs = List.copyOf(logprobs);
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    public boolean finished() {
        return finishReason != null;
    }

    /** Token counts of a finished request. */
    public record Usage(int promptTokens, int completionTokens, int cachedPromptTokens) {
        public int totalTokens() {
            return promptTokens + completionTokens;
        }
    }
}
