package io.spillway.models.sampling;

import java.util.List;

/**
 * One sampled token.
 *
 * @param token   the chosen id, or {@link #NOT_FINITE} when the row's logits held NaN or an infinity
 * @param logprob its log-probability under the model's raw distribution (before penalties and
 *                temperature, as vLLM reports by default); NaN when logprobs were not asked for
 * @param top     the most likely tokens of the raw distribution, best first (empty unless asked)
 */
public record Sample(int token, float logprob, List<TokenLogprob> top) {

    /** The token of a row whose logits were not all finite: nothing was drawn from it. */
    public static final int NOT_FINITE = -1;

    public Sample {
        top = List.copyOf(top);
    }

    /** False when the model's logits for this row held NaN or an infinity (a float16 overflow, typically). */
    public boolean finite() {
        return token != NOT_FINITE;
    }
}
