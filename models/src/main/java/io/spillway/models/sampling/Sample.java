package io.spillway.models.sampling;

import java.util.List;

/**
 * One sampled token.
 *
 * @param token   the chosen id
 * @param logprob its log-probability under the model's raw distribution (before penalties and
 *                temperature, as vLLM reports by default); NaN when logprobs were not asked for
 * @param top     the most likely tokens of the raw distribution, best first (empty unless asked)
 */
public record Sample(int token, float logprob, List<TokenLogprob> top) {
    public Sample {
        top = List.copyOf(top);
    }
}
