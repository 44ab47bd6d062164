package io.spillway.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.checkpoint.GenerationConfig;
import io.spillway.models.sampling.InvalidSamplingParameterException;
import io.spillway.models.sampling.SamplingParams;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * The generation parameters of a chat or completions request: OpenAI's (max_tokens, temperature,
 * top_p, n, stop, penalties, logit_bias, logprobs, seed, stream) and vLLM's extras (top_k, min_p,
 * repetition_penalty, min_tokens, ignore_eos, stop_token_ids, skip_special_tokens,
 * return_token_ids). Values the request leaves out come from the model's generation_config.json,
 * then from OpenAI's defaults.
 *
 * @param sampling        what the engine needs
 * @param stream          answer with Server-Sent Events
 * @param includeUsage    stream_options.include_usage
 * @param returnTokenIds  add the generated token ids to each choice
 * @param logprobs        whether logprobs are returned at all
 * @param echo            completions: prepend the prompt to the text
 */
public record GenerationOptions(SamplingParams sampling, boolean stream, boolean includeUsage, boolean returnTokenIds, boolean logprobs,
                         boolean echo) {

    public enum Kind { CHAT, COMPLETION }

    /** Up to this many stop strings (OpenAI allows 4; vLLM more). */
    static final int MAX_STOP = 16;

    /** The completion length the request asks for (chat's max_completion_tokens wins over max_tokens), or null. */
    public static Long requestedMaxTokens(Params p, Kind kind) {
        String name = kind == Kind.CHAT && p.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        return p.integer(name, 1, Integer.MAX_VALUE);
    }

    static GenerationOptions parse(Params p, Kind kind, int promptTokens, ServedModel model) {
        GenerationConfig defaults = model.engine().model().generationConfig();
        int maxModelLength = model.maxModelLength();
        if (promptTokens >= maxModelLength) {
            throw contextExceeded(maxModelLength, promptTokens, 0, kind);
        }
        Long requested = requestedMaxTokens(p, kind);
        int maxTokens;
        if (requested != null) {
            if (promptTokens + requested > maxModelLength) {
                throw contextExceeded(maxModelLength, promptTokens, requested, kind);
            }
            maxTokens = requested.intValue();
        } else {
            int room = maxModelLength - promptTokens;
            maxTokens = kind == Kind.COMPLETION ? Math.min(16, room) : room;
        }

        SamplingParams.Builder b = SamplingParams.builder().maxTokens(maxTokens);
        b.n(optInt(p.integer("n", 1, 128), 1));
        b.temperature(optDouble(p.number("temperature", 0, 2), defaults.temperature().orElse(1.0)));
        b.topP(optDouble(p.number("top_p", 0, 1), defaults.topP().orElse(1.0)));
        b.topK(optInt(p.integer("top_k", -1, Integer.MAX_VALUE), defaults.topK().orElse(-1)));
        b.minP(optDouble(p.number("min_p", 0, 1), defaults.minP().orElse(0.0)));
        b.repetitionPenalty(optDouble(p.number("repetition_penalty", Double.MIN_VALUE, 10), defaults.repetitionPenalty().orElse(1.0)));
        b.presencePenalty(optDouble(p.number("presence_penalty", -2, 2), 0));
        b.frequencyPenalty(optDouble(p.number("frequency_penalty", -2, 2), 0));
        Long seed = p.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        b.seed(seed);
        b.stop(p.stringOrStrings("stop", MAX_STOP));
        b.stopTokenIds(tokenIds(p, "stop_token_ids", model.vocabSize()));
        b.logitBias(logitBias(p, model.vocabSize()));
        b.minTokens(optInt(p.integer("min_tokens", 0, Integer.MAX_VALUE), 0));
        b.ignoreEos(p.bool("ignore_eos", false));
        b.skipSpecialTokens(p.bool("skip_special_tokens", true));

        boolean logprobs;
        if (kind == Kind.CHAT) {
            logprobs = p.bool("logprobs", false);
            Long top = p.integer("top_logprobs", 0, SamplingParams.MAX_LOGPROBS);
            if (top != null && !logprobs) {
                throw OpenAiException.invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
            }
            b.logprobs(logprobs ? optInt(top, 0) : null);
        } else {
            Long n = p.integer("logprobs", 0, SamplingParams.MAX_LOGPROBS);
            logprobs = n != null;
            b.logprobs(n == null ? null : n.intValue());
        }

        boolean stream = p.bool("stream", false);
        ObjectNode streamOptions = p.object("stream_options");
        if (streamOptions != null && !stream) {
            throw OpenAiException.invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options");
        }
        boolean includeUsage = streamOptions != null && new Params(streamOptions).bool("include_usage", false);
        p.string("user", null);

        ObjectNode responseFormat = p.object("response_format");
        if (responseFormat != null && !"text".equals(new Params(responseFormat).string("type", "text"))) {
            throw OpenAiException.invalid("Invalid 'response_format': only {\"type\": \"text\"} is supported; structured outputs"
                    + " (json_object, json_schema) are not.", "response_format");
        }
        boolean echo = false;
        if (kind == Kind.COMPLETION) {
            echo = p.bool("echo", false);
            if (p.has("suffix")) {
                throw OpenAiException.invalid("Invalid 'suffix': insertion (fill-in-the-middle) is not supported.", "suffix");
            }
            Long bestOf = p.integer("best_of", 1, 128);
            if (bestOf != null && bestOf != optInt(p.integer("n", 1, 128), 1)) {
                throw OpenAiException.invalid("Invalid 'best_of': only best_of equal to n is supported.", "best_of");
            }
        }
        try {
            return new GenerationOptions(b.build(), stream, includeUsage, p.bool("return_token_ids", false), logprobs, echo);
        } catch (InvalidSamplingParameterException e) {
            throw OpenAiException.invalid("Invalid '" + e.parameter() + "': " + e.getMessage(), e.parameter());
        }
    }

    static OpenAiException contextExceeded(int maxModelLength, int promptTokens, long completionTokens, Kind kind) {
        String where = kind == Kind.CHAT ? "messages" : "prompt";
        return OpenAiException.invalid("This model's maximum context length is " + maxModelLength + " tokens. However, you requested "
                + (promptTokens + completionTokens) + " tokens (" + promptTokens + " in the " + where + ", " + completionTokens
                + " in the completion). Please reduce the length of the " + where + " or completion.", where, "context_length_exceeded");
    }

    private static int optInt(Long v, int fallback) {
        return v == null ? fallback : v.intValue();
    }

    private static double optDouble(Double v, double fallback) {
        return v == null ? fallback : v;
    }

    private static Set<Integer> tokenIds(Params p, String name, int vocab) {
        JsonNode array = p.array(name);
        Set<Integer> out = new HashSet<>();
        if (array == null) {
            return out;
        }
        for (JsonNode n : array) {
            if (!n.isIntegralNumber() || n.asLong() < 0 || n.asLong() >= vocab) {
                throw OpenAiException.invalid("Invalid '" + name + "': token ids must be integers in [0, " + vocab + ").", name);
            }
            out.add(n.asInt());
        }
        return out;
    }

    private static Map<Integer, Float> logitBias(Params p, int vocab) {
        ObjectNode bias = p.object("logit_bias");
        Map<Integer, Float> out = new HashMap<>();
        if (bias == null) {
            return out;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = bias.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int token;
            try {
                token = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw OpenAiException.invalid("Invalid 'logit_bias': keys must be token ids, got '" + e.getKey() + "'.", "logit_bias");
            }
            if (token < 0 || token >= vocab) {
                throw OpenAiException.invalid("Invalid 'logit_bias': token id " + token + " is outside [0, " + vocab + ").", "logit_bias");
            }
            if (!e.getValue().isNumber() || Math.abs(e.getValue().asDouble()) > 100) {
                throw OpenAiException.invalid("Invalid 'logit_bias': bias for " + token + " must be a number in [-100, 100].", "logit_bias");
            }
            out.put(token, (float) e.getValue().asDouble());
        }
        return out;
    }
}
