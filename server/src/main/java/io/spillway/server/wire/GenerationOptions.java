package io.spillway.server.wire;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How to generate, as the request says it: OpenAI's parameters (max_tokens, temperature, top_p, n,
 * stop, penalties, logit_bias, logprobs, seed) and vLLM's extras (top_k, min_p,
 * repetition_penalty, min_tokens, ignore_eos, stop_token_ids, skip_special_tokens,
 * return_token_ids). Values left out are empty: the model's generation_config.json, then OpenAI's
 * defaults, fill them where the request runs. Token ids are checked against a vocabulary only
 * there, since only the model knows it.
 *
 * @param maxTokens  max_completion_tokens (chat) or max_tokens
 * @param logprobs   how many alternatives per token when log-probabilities are asked for
 *                   (chat: top_logprobs, 0 when only logprobs is true; completions: logprobs)
 * @param format     the shape the text must have (response_format, or vLLM's guided_json)
 */
public record GenerationOptions(Optional<Integer> maxTokens, int n, Optional<Double> temperature, Optional<Double> topP,
                                Optional<Integer> topK, Optional<Double> minP, Optional<Double> repetitionPenalty,
                                double presencePenalty, double frequencyPenalty, Optional<Long> seed, List<String> stop,
                                Set<Integer> stopTokenIds, Map<Integer, Float> logitBias, int minTokens, boolean ignoreEos,
                                boolean skipSpecialTokens, Optional<Integer> logprobs, boolean returnTokenIds, ResponseFormat format) {

    /** Most stop strings per request (OpenAI allows 4, vLLM more; Bedrock's Converse takes 2,500). */
    public static final int MAX_STOP = 16;
    /** Most alternatives per token (vLLM's cap; OpenAI allows 20). */
    public static final int MAX_LOGPROBS = 20;

    public GenerationOptions {
        stop = List.copyOf(stop);
        stopTokenIds = Set.copyOf(stopTokenIds);
        logitBias = Map.copyOf(logitBias);
    }

    public GenerationOptions withStopAndFormat(List<String> replacedStop, ResponseFormat replacedFormat) {
        return new GenerationOptions(maxTokens, n, temperature, topP, topK, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                seed, replacedStop, stopTokenIds, logitBias, minTokens, ignoreEos, skipSpecialTokens, logprobs, returnTokenIds,
                replacedFormat);
    }

    /** Whether the same request always gets the same answer: temperature 0, or a seed. */
    public boolean deterministic() {
        return temperature.filter(t -> t == 0).isPresent() || seed.isPresent();
    }
}
