package io.spillway.server.router;

import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.GenerationOptions;
import io.spillway.server.wire.Message;
import io.spillway.server.wire.Role;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ConversationRole;
import software.amazon.awssdk.services.bedrockruntime.model.InferenceConfiguration;
import software.amazon.awssdk.services.bedrockruntime.model.Message.Builder;
import software.amazon.awssdk.services.bedrockruntime.model.StopReason;
import software.amazon.awssdk.services.bedrockruntime.model.SystemContentBlock;

/**
 * OpenAI chat requests into Bedrock's Converse shape and Converse's answers back.
 *
 * <p>System messages become Converse's {@code system} blocks; user and assistant turns become
 * messages, consecutive turns of one role merged (Converse wants them alternating, starting with
 * the user). max_tokens, temperature, top_p and stop map one to one. What Converse cannot express
 * (n &gt; 1, logprobs, tools, tool or function messages, vLLM's sampling extras, a seed, a chat
 * template of the request's own) is named by {@link #inexpressible}: such a request stays local.
 */
public final class ConverseTranslation {

    private ConverseTranslation() {
    }

    /** Why a request cannot be sent to Bedrock as it is, and the parameter at fault. */
    public record Inexpressible(String reason, String param) {
    }

    /** Why this request cannot be sent to Bedrock as it is, if it cannot. */
    public static Optional<Inexpressible> inexpressible(ChatRequest request) {
        GenerationOptions o = request.options();
        List<String> fields = new ArrayList<>();
        if (o.logprobs().isPresent()) {
            fields.add("logprobs");
        }
        if (!request.tools().tools().isEmpty()) {
            fields.add("tools");
        }
        if (!(o.format() instanceof io.spillway.server.wire.ResponseFormat.Text)) {
            fields.add("response_format");
        }
        if (!o.logitBias().isEmpty()) {
            fields.add("logit_bias");
        }
        if (o.topK().isPresent() || o.minP().isPresent() || o.repetitionPenalty().isPresent() || o.minTokens() > 0 || o.ignoreEos()
                || !o.stopTokenIds().isEmpty()) {
            fields.add("vLLM's sampling parameters");
        }
        if (o.presencePenalty() != 0 || o.frequencyPenalty() != 0) {
            fields.add("presence and frequency penalties");
        }
        if (o.returnTokenIds()) {
            fields.add("return_token_ids");
        }
        if (o.seed().isPresent()) {
            fields.add("seed");
        }
        if (request.template().documents().isPresent() || request.template().chatTemplate().isPresent()
                || request.template().kwargs().isPresent()) {
            fields.add("chat template options");
        }
        if (!fields.isEmpty()) {
            return Optional.of(new Inexpressible(String.join(", ", fields) + " can be served only by the local engine.", null));
        }
        if (o.n() != 1) {
            return Optional.of(new Inexpressible("n > 1 can be served only by the local engine.", "n"));
        }
        for (Message m : request.messages()) {
            if (m.role() == Role.TOOL || m.role() == Role.FUNCTION) {
                return Optional.of(new Inexpressible("Messages with role '" + m.role().wireName() + "' cannot be sent to Bedrock.",
                        "messages"));
            }
        }
        Optional<Role> first = request.messages().stream().map(Message::role).filter(r -> r != Role.SYSTEM).findFirst();
        if (first.isEmpty() || first.get() != Role.USER) {
            return Optional.of(new Inexpressible("A conversation for Bedrock must start with a user message after any system messages.",
                    "messages"));
        }
        return Optional.empty();
    }

    public record Translated(List<SystemContentBlock> system, List<software.amazon.awssdk.services.bedrockruntime.model.Message> messages,
                             InferenceConfiguration inference) {
    }

    /** A request {@link #inexpressible} accepts, in Converse's terms. */
    public static Translated request(ChatRequest request) {
        List<SystemContentBlock> system = new ArrayList<>();
        List<software.amazon.awssdk.services.bedrockruntime.model.Message> turns = new ArrayList<>();
        ConversationRole currentRole = null;
        List<ContentBlock> current = new ArrayList<>();
        for (Message m : request.messages()) {
            if (m.role() == Role.SYSTEM) {
                system.add(SystemContentBlock.fromText(m.content()));
                continue;
            }
            ConversationRole r = m.role() == Role.USER ? ConversationRole.USER : ConversationRole.ASSISTANT;
            if (currentRole != null && r != currentRole) {
                turns.add(turn(currentRole, current));
                current = new ArrayList<>();
            }
            currentRole = r;
            if (!m.content().isEmpty()) {
                current.add(ContentBlock.fromText(m.content()));
            }
        }
        if (currentRole != null) {
            turns.add(turn(currentRole, current));
        }
        GenerationOptions o = request.options();
        InferenceConfiguration.Builder inference = InferenceConfiguration.builder();
        o.maxTokens().ifPresent(inference::maxTokens);
        o.temperature().ifPresent(t -> inference.temperature(t.floatValue()));
        o.topP().ifPresent(p -> inference.topP(p.floatValue()));
        if (!o.stop().isEmpty()) {
            inference.stopSequences(o.stop());
        }
        return new Translated(system, turns, inference.build());
    }

    private static software.amazon.awssdk.services.bedrockruntime.model.Message turn(ConversationRole role, List<ContentBlock> content) {
        Builder b = software.amazon.awssdk.services.bedrockruntime.model.Message.builder();
        return b.role(role).content(content).build();
    }

    /** Converse's stop reason as an OpenAI finish_reason. */
    public static FinishReason finishReason(StopReason reason) {
        if (reason == null) {
            return FinishReason.STOP;
        }
        return switch (reason) {
            case MAX_TOKENS, MODEL_CONTEXT_WINDOW_EXCEEDED -> FinishReason.LENGTH;
            case CONTENT_FILTERED, GUARDRAIL_INTERVENED -> FinishReason.CONTENT_FILTER;
            case TOOL_USE -> FinishReason.TOOL_CALLS;
            default -> FinishReason.STOP;
        };
    }
}
