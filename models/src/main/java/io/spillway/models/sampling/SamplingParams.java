package io.spillway.models.sampling;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How one request turns logits into tokens and when it stops, with OpenAI's and vLLM's meanings.
 *
 * @param n                       independent samples of the same prompt
 * @param temperature             0 means greedy
 * @param topP                    nucleus mass in (0, 1]
 * @param topK                    keep the k most likely tokens; 0 or -1 means all
 * @param minP                    drop tokens below minP times the top probability; 0 disables
 * @param repetitionPenalty       HF-style: logits of tokens already in prompt or output are divided
 *                                (if positive) or multiplied (if negative) by it; 1 disables
 * @param presencePenalty         subtracted once from every token already in the output
 * @param frequencyPenalty        subtracted per occurrence of a token in the output
 * @param logitBias               token id to bias added to its logit
 * @param seed                    makes sampling reproducible whatever else is batched; null = random
 * @param maxTokens               new tokens per sample at most
 * @param minTokens               no end-of-sequence or stop token before this many new tokens
 * @param stopTokenIds            extra ids that end a sample (returned in token_ids, not in text)
 * @param stop                    strings that end a sample; excluded from the output text
 * @param ignoreEos               keep going past the model's end-of-sequence tokens
 * @param logprobs                number of top log-probabilities per token to return; null = none
 * @param skipSpecialTokens       leave special tokens out of the text
 */
public record SamplingParams(
        int n,
        double temperature,
        double topP,
        int topK,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Map<Integer, Float> logitBias,
        Long seed,
        int maxTokens,
        int minTokens,
        Set<Integer> stopTokenIds,
        List<String> stop,
        boolean ignoreEos,
        Integer logprobs,
        boolean skipSpecialTokens) {

    /** vLLM's cap on top_logprobs (OpenAI allows 20). */
    public static final int MAX_LOGPROBS = 20;

    public SamplingParams {
        logitBias = Map.copyOf(logitBias);
        stopTokenIds = Set.copyOf(stopTokenIds);
        stop = List.copyOf(stop);
        check(n >= 1, "n", "must be at least 1, was " + n);
        check(temperature >= 0 && Double.isFinite(temperature), "temperature", "must be >= 0, was " + temperature);
        check(topP > 0 && topP <= 1, "top_p", "must be in (0, 1], was " + topP);
        check(topK >= -1, "top_k", "must be -1 (disabled) or positive, was " + topK);
        check(minP >= 0 && minP <= 1, "min_p", "must be in [0, 1], was " + minP);
        check(repetitionPenalty > 0 && Double.isFinite(repetitionPenalty), "repetition_penalty", "must be > 0, was " + repetitionPenalty);
        check(presencePenalty >= -2 && presencePenalty <= 2, "presence_penalty", "must be in [-2, 2], was " + presencePenalty);
        check(frequencyPenalty >= -2 && frequencyPenalty <= 2, "frequency_penalty", "must be in [-2, 2], was " + frequencyPenalty);
        check(maxTokens >= 1, "max_tokens", "must be at least 1, was " + maxTokens);
        check(minTokens >= 0 && minTokens <= maxTokens, "min_tokens", "must be in [0, max_tokens], was " + minTokens);
        check(logprobs == null || (logprobs >= 0 && logprobs <= MAX_LOGPROBS), "top_logprobs",
                "must be in [0, " + MAX_LOGPROBS + "], was " + logprobs);
        for (String s : stop) {
            check(!s.isEmpty(), "stop", "stop strings must not be empty");
        }
        for (Map.Entry<Integer, Float> e : logitBias.entrySet()) {
            check(Float.isFinite(e.getValue()) && Math.abs(e.getValue()) <= 100, "logit_bias",
                    "bias for token " + e.getKey() + " must be in [-100, 100]");
        }
    }

    private static void check(boolean ok, String param, String message) {
        if (!ok) {
            throw new InvalidSamplingParameterException(param, param + " " + message);
        }
    }

    public boolean greedy() {
        return temperature == 0 || topK == 1;
    }

    /** Whether any logits processing beyond temperature is needed. */
    boolean hasPenalties() {
        return repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().n(n).temperature(temperature).topP(topP).topK(topK).minP(minP)
                .repetitionPenalty(repetitionPenalty).presencePenalty(presencePenalty).frequencyPenalty(frequencyPenalty)
                .logitBias(logitBias).seed(seed).maxTokens(maxTokens).minTokens(minTokens).stopTokenIds(stopTokenIds)
                .stop(stop).ignoreEos(ignoreEos).logprobs(logprobs).skipSpecialTokens(skipSpecialTokens);
    }

    /** Defaults are OpenAI's: temperature 1, top_p 1, no penalties, 16 max tokens. */
    public static final class Builder {
        private int n = 1;
        private double temperature = 1;
        private double topP = 1;
        private int topK = -1;
        private double minP = 0;
        private double repetitionPenalty = 1;
        private double presencePenalty = 0;
        private double frequencyPenalty = 0;
        private Map<Integer, Float> logitBias = Map.of();
        private Long seed;
        private int maxTokens = 16;
        private int minTokens = 0;
        private Set<Integer> stopTokenIds = Set.of();
        private List<String> stop = List.of();
        private boolean ignoreEos;
        private Integer logprobs;
        private boolean skipSpecialTokens = true;

        public Builder n(int v) {
            n = v;
            return this;
        }

        public Builder temperature(double v) {
            temperature = v;
            return this;
        }

        public Builder topP(double v) {
            topP = v;
            return this;
        }

        public Builder topK(int v) {
            topK = v == 0 ? -1 : v;
            return this;
        }

        public Builder minP(double v) {
            minP = v;
            return this;
        }

        public Builder repetitionPenalty(double v) {
            repetitionPenalty = v;
            return this;
        }

        public Builder presencePenalty(double v) {
            presencePenalty = v;
            return this;
        }

        public Builder frequencyPenalty(double v) {
            frequencyPenalty = v;
            return this;
        }

        public Builder logitBias(Map<Integer, Float> v) {
            logitBias = v;
            return this;
        }

        public Builder seed(Long v) {
            seed = v;
            return this;
        }

        public Builder maxTokens(int v) {
            maxTokens = v;
            return this;
        }

        public Builder minTokens(int v) {
            minTokens = v;
            return this;
        }

        public Builder stopTokenIds(Set<Integer> v) {
            stopTokenIds = v;
            return this;
        }

        public Builder stop(List<String> v) {
            stop = v;
            return this;
        }

        public Builder ignoreEos(boolean v) {
            ignoreEos = v;
            return this;
        }

        public Builder logprobs(Integer v) {
            logprobs = v;
            return this;
        }

        public Builder skipSpecialTokens(boolean v) {
            skipSpecialTokens = v;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(n, temperature, topP, topK, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                    logitBias, seed, maxTokens, minTokens, stopTokenIds, stop, ignoreEos, logprobs, skipSpecialTokens);
        }
    }
}
