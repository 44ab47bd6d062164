package io.spillway.server.router;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.server.api.GenerationOptions;
import io.spillway.server.api.OpenAiException;
import io.spillway.server.api.Params;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ConversationRole;
import software.amazon.awssdk.services.bedrockruntime.model.InferenceConfiguration;
import software.amazon.awssdk.services.bedrockruntime.model.Message;
import software.amazon.awssdk.services.bedrockruntime.model.StopReason;
import software.amazon.awssdk.services.bedrockruntime.model.SystemContentBlock;

/**
 * OpenAI chat requests into Bedrock's Converse shape and Converse's answers back.
 *
 * <p>System messages become Converse's {@code system} blocks; user and assistant turns become
 * messages, consecutive turns of one role merged (Converse wants them alternating, starting with
 * the user). max_tokens, temperature, top_p and stop map one to one. What Converse cannot express
 * (n &gt; 1, logprobs, tools, vLLM's sampling extras) keeps a request local:
 * {@link #unsupported} names it.
 */
public final class ConverseTranslation {

    /** Request fields that only the local engine serves. */
    private static final List<String> LOCAL_ONLY_FIELDS = List.of("logprobs", "top_logprobs", "tools", "tool_choice", "functions",
            "logit_bias", "top_k", "min_p", "repetition_penalty", "min_tokens", "ignore_eos", "stop_token_ids", "return_token_ids",
            "response_format", "documents", "chat_template", "chat_template_kwargs", "seed");

    private ConverseTranslation() {
    }

    /** Why this request cannot go to Bedrock, if it cannot. */
    public static Optional<String> unsupported(Params p) {
        for (String f : LOCAL_ONLY_FIELDS) {
            JsonNode v = p.get(f);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean())) {
                return Optional.of("'" + f + "' is served only by the local engine");
            }
        }
        JsonNode n = p.get("n");
        if (n != null && n.isNumber() && n.asInt() != 1) {
            return Optional.of("n > 1 is served only by the local engine");
        }
        return Optional.empty();
    }

    public record Translated(List<SystemContentBlock> system, List<Message> messages, InferenceConfiguration inference) {
    }

    /** {@code messages} as normalized by the API (role and string content per message). */
    public static Translated request(Params p, List<Object> messages) {
        List<SystemContentBlock> system = new ArrayList<>();
        List<Message> turns = new ArrayList<>();
        ConversationRole currentRole = null;
        List<ContentBlock> current = new ArrayList<>();
        for (Object o : messages) {
            Map<?, ?> m = (Map<?, ?>) o;
            String role = String.valueOf(m.get("role"));
            String content = m.get("content") instanceof String s ? s : "";
            switch (role) {
                case "system" -> system.add(SystemContentBlock.fromText(content));
                case "user", "assistant" -> {
                    ConversationRole r = role.equals("user") ? ConversationRole.USER : ConversationRole.ASSISTANT;
                    if (currentRole != null && r != currentRole) {
                        turns.add(Message.builder().role(currentRole).content(current).build());
                        current = new ArrayList<>();
                    }
                    currentRole = r;
                    if (!content.isEmpty()) {
                        current.add(ContentBlock.fromText(content));
                    }
                }
                default -> throw OpenAiException.invalid("Messages with role '" + role + "' cannot be sent to Bedrock.", "messages");
            }
        }
        if (currentRole != null) {
            turns.add(Message.builder().role(currentRole).content(current).build());
        }
        if (turns.isEmpty() || turns.get(0).role() != ConversationRole.USER) {
            throw OpenAiException.invalid("A conversation for Bedrock must start with a user message after any system messages.",
                    "messages");
        }
        InferenceConfiguration.Builder inference = InferenceConfiguration.builder();
        Long maxTokens = GenerationOptions.requestedMaxTokens(p, GenerationOptions.Kind.CHAT);
        if (maxTokens != null) {
            inference.maxTokens(maxTokens.intValue());
        }
        Double temperature = p.number("temperature", 0, 2);
        if (temperature != null) {
            inference.temperature(temperature.floatValue());
        }
        Double topP = p.number("top_p", 0, 1);
        if (topP != null) {
            inference.topP(topP.floatValue());
        }
        List<String> stop = p.stringOrStrings("stop", 4);
        if (stop != null && !stop.isEmpty()) {
            inference.stopSequences(stop);
        }
        return new Translated(system, turns, inference.build());
    }

    /** Converse's stop reason as an OpenAI finish_reason. */
    public static String finishReason(StopReason reason) {
        if (reason == null) {
            return "stop";
        }
        return switch (reason) {
            case MAX_TOKENS, MODEL_CONTEXT_WINDOW_EXCEEDED -> "length";
            case CONTENT_FILTERED, GUARDRAIL_INTERVENED -> "content_filter";
            case TOOL_USE -> "tool_calls";
            default -> "stop";
        };
    }
}
