package io.spillway.server.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.GenerationOptions;
import io.spillway.server.wire.Message;
import io.spillway.server.wire.ResponseFormat;
import io.spillway.server.wire.Role;
import io.spillway.server.wire.Tool;
import io.spillway.server.wire.ToolChoice;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import software.amazon.awssdk.services.bedrockruntime.model.AnyToolChoice;
import software.amazon.awssdk.services.bedrockruntime.model.AutoToolChoice;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ConversationRole;
import software.amazon.awssdk.services.bedrockruntime.model.InferenceConfiguration;
import software.amazon.awssdk.services.bedrockruntime.model.SpecificToolChoice;
import software.amazon.awssdk.services.bedrockruntime.model.StopReason;
import software.amazon.awssdk.services.bedrockruntime.model.SystemContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ToolConfiguration;
import software.amazon.awssdk.services.bedrockruntime.model.ToolInputSchema;
import software.amazon.awssdk.services.bedrockruntime.model.ToolResultBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ToolResultContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ToolSpecification;
import software.amazon.awssdk.services.bedrockruntime.model.ToolUseBlock;

/**
 * OpenAI chat requests into Bedrock's Converse shape and Converse's answers back.
 *
 * <p>System messages become Converse's {@code system} blocks; user and assistant turns become
 * messages, consecutive turns of one role merged (Converse wants them alternating, starting with
 * the user). max_tokens, temperature, top_p and stop map one to one. Tools become the
 * {@code toolConfig} (tool_choice auto, required and a named function as Converse's auto, any and
 * tool); an assistant turn's tool calls become {@code toolUse} blocks and tool messages
 * {@code toolResult} blocks of a user turn; such blocks go with a tool configuration even when the
 * request no longer lets the model call (Converse reads them only with one), and then the model's
 * calls are not passed on, nor any but the first without parallel_tool_calls. A JSON response format is honoured through a tool the
 * model is made to call, whose input schema is the requested one: its input is the answer.
 * What Converse cannot express (n &gt; 1, logprobs, vLLM's sampling extras, penalties, a seed, a
 * chat template of the request's own, tool names with dots) is named by {@link #inexpressible}:
 * such a request stays local.
 */
public final class ConverseTranslation {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** The tool that carries a JSON response format (a tool name Converse accepts). */
    static final String RESPONSE_TOOL = "json_response";
    /** The tool names Converse takes (Spillway's, like vLLM's, may also hold dots). */
    private static final Pattern TOOL_NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");

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
        if (!(o.format() instanceof ResponseFormat.Text) && request.tools().offered()) {
            fields.add("tools together with a JSON response format");
        }
        if (!fields.isEmpty()) {
            return Optional.of(new Inexpressible(String.join(", ", fields) + " can be served only by the local engine.", null));
        }
        if (o.n() != 1) {
            return Optional.of(new Inexpressible("n > 1 can be served only by the local engine.", "n"));
        }
        for (Tool t : request.tools().tools()) {
            if (!TOOL_NAME.matcher(t.name()).matches()) {
                return Optional.of(new Inexpressible(toolName(t.name()), "tools"));
            }
        }
        for (Message m : request.messages()) {
            for (JsonNode call : m.extra().path("tool_calls")) {
                String name = call.path("function").path("name").asText();
                if (!TOOL_NAME.matcher(name).matches()) {
                    return Optional.of(new Inexpressible(toolName(name), "messages"));
                }
                if (argumentsObject(call.path("function").path("arguments")).isEmpty()) {
                    return Optional.of(new Inexpressible("The arguments of the earlier call to '" + name + "' are not a JSON object,"
                            + " which Bedrock needs a call's input to be.", "messages"));
                }
            }
            if (m.role() == Role.FUNCTION || (m.role() == Role.TOOL && !m.extra().path("tool_call_id").isTextual())) {
                return Optional.of(new Inexpressible("Messages with role '" + m.role().wireName() + "' cannot be sent to Bedrock"
                        + (m.role() == Role.TOOL ? " without a 'tool_call_id'." : "."), "messages"));
            }
        }
        Optional<Role> first = request.messages().stream().map(Message::role).filter(r -> r != Role.SYSTEM).findFirst();
        if (first.isEmpty() || first.get() != Role.USER) {
            return Optional.of(new Inexpressible("A conversation for Bedrock must start with a user message after any system messages.",
                    "messages"));
        }
        return Optional.empty();
    }

    private static String toolName(String name) {
        return "Converse takes tool names of 1 to 64 letters, digits, '_' or '-', not '" + name + "'.";
    }

    /**
     * A request in Converse's terms.
     *
     * @param tools        the tool configuration, when the request offers tools, asks for JSON or its conversation holds tool blocks
     * @param jsonResponse the answer comes as the input of {@link #RESPONSE_TOOL}: it is content, not a call
     * @param maxCalls     how many of the answer's tool calls go to the client, the first ones: none unless it offered
     *                     tools and let the model call them (Converse may still have been offered tools, to read the
     *                     conversation's tool blocks), one if it asked for no parallel calls (Converse cannot be told)
     */
    public record Translated(List<SystemContentBlock> system, List<software.amazon.awssdk.services.bedrockruntime.model.Message> messages,
                             InferenceConfiguration inference, Optional<ToolConfiguration> tools, boolean jsonResponse,
                             int maxCalls) {
    }

    /** A request {@link #inexpressible} accepts, in Converse's terms. */
    public static Translated request(ChatRequest request) {
        List<SystemContentBlock> system = new ArrayList<>();
        List<software.amazon.awssdk.services.bedrockruntime.model.Message> turns = new ArrayList<>();
        ConversationRole currentRole = null;
        List<ContentBlock> current = new ArrayList<>();
        boolean toolBlocks = false;
        Set<String> called = new LinkedHashSet<>();
        for (Message m : request.messages()) {
            if (m.role() == Role.SYSTEM) {
                system.add(SystemContentBlock.fromText(m.content()));
                continue;
            }
            ConversationRole r = m.role() == Role.ASSISTANT ? ConversationRole.ASSISTANT : ConversationRole.USER;
            if (currentRole != null && r != currentRole) {
                turns.add(turn(currentRole, current));
                current = new ArrayList<>();
            }
            currentRole = r;
            if (m.role() == Role.TOOL) {
                current.add(ContentBlock.fromToolResult(ToolResultBlock.builder().toolUseId(m.extra().get("tool_call_id").asText())
                        .content(ToolResultContentBlock.fromText(m.content())).build()));
                toolBlocks = true;
                continue;
            }
            if (!m.content().isEmpty()) {
                current.add(ContentBlock.fromText(m.content()));
            }
            for (JsonNode call : m.extra().path("tool_calls")) {
                called.add(call.path("function").path("name").asText());
                current.add(ContentBlock.fromToolUse(ToolUseBlock.builder().toolUseId(call.path("id").asText())
                        .name(call.path("function").path("name").asText())
                        .input(JsonDocuments.document(arguments(call.path("function").path("arguments")))).build()));
                toolBlocks = true;
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
        Optional<ToolConfiguration> tools = Optional.empty();
        boolean jsonResponse = false;
        switch (o.format()) {
            case ResponseFormat.JsonSchema s -> {
                tools = Optional.of(responseTool(s.schema()));
                jsonResponse = true;
            }
            case ResponseFormat.JsonObject j -> {
                tools = Optional.of(responseTool(JsonNodeFactory.instance.objectNode().put("type", "object")));
                jsonResponse = true;
            }
            case ResponseFormat.Text t -> {
                if (request.tools().offered() || toolBlocks) {
                    // A request that no longer offers tools still holds calls, which Converse reads only against
                    // a tool configuration: the tools they name are all that is known of them.
                    List<Tool> offered = request.tools().tools().isEmpty() ? calledTools(called) : request.tools().tools();
                    tools = Optional.of(toolConfig(offered, request.tools().choice()));
                }
            }
        }
        int maxCalls = !request.tools().offered() || !(o.format() instanceof ResponseFormat.Text) ? 0
                : request.tools().parallel() ? Integer.MAX_VALUE : 1;
        return new Translated(system, turns, inference.build(), tools, jsonResponse, maxCalls);
    }

    private static ToolConfiguration toolConfig(List<Tool> tools, ToolChoice choice) {
        List<software.amazon.awssdk.services.bedrockruntime.model.Tool> specs = new ArrayList<>();
        for (Tool t : tools) {
            // Converse wants an object's schema, and a description of one character at least; OpenAI's
            // parameters may leave the type out (arguments are an object anyway) and a description empty.
            JsonNode parameters = t.parameters();
            if (parameters.isObject() && !parameters.has("type")) {
                parameters = ((com.fasterxml.jackson.databind.node.ObjectNode) parameters.deepCopy()).put("type", "object");
            }
            ToolSpecification.Builder spec = ToolSpecification.builder().name(t.name())
                    .inputSchema(ToolInputSchema.fromJson(JsonDocuments.document(parameters)));
            t.description().filter(d -> !d.isEmpty()).ifPresent(spec::description);
            specs.add(software.amazon.awssdk.services.bedrockruntime.model.Tool.fromToolSpec(spec.build()));
        }
        ToolConfiguration.Builder config = ToolConfiguration.builder().tools(specs);
        switch (choice) {
            case ToolChoice.Required r -> config.toolChoice(software.amazon.awssdk.services.bedrockruntime.model.ToolChoice.fromAny(
                    AnyToolChoice.builder().build()));
            case ToolChoice.Named n -> config.toolChoice(software.amazon.awssdk.services.bedrockruntime.model.ToolChoice.fromTool(
                    SpecificToolChoice.builder().name(n.name()).build()));
            case ToolChoice.Auto a -> config.toolChoice(software.amazon.awssdk.services.bedrockruntime.model.ToolChoice.fromAuto(
                    AutoToolChoice.builder().build()));
            // The conversation holds tool blocks, which Converse reads only with a tool configuration, and
            // Converse has no "none": the model may call, and its calls are not passed on (maxCalls).
            case ToolChoice.None n -> config.toolChoice(software.amazon.awssdk.services.bedrockruntime.model.ToolChoice.fromAuto(
                    AutoToolChoice.builder().build()));
        }
        return config.build();
    }

    /** The tools a conversation called, known by name only: any object is their input. */
    private static List<Tool> calledTools(Set<String> names) {
        return names.stream().map(name -> new Tool(name, Optional.empty(), JsonNodeFactory.instance.objectNode().put("type", "object"),
                false, JsonNodeFactory.instance.objectNode())).toList();
    }

    private static ToolConfiguration responseTool(JsonNode schema) {
        return ToolConfiguration.builder()
                .tools(software.amazon.awssdk.services.bedrockruntime.model.Tool.fromToolSpec(ToolSpecification.builder()
                        .name(RESPONSE_TOOL).description("Give the answer as this tool's input.")
                        .inputSchema(ToolInputSchema.fromJson(JsonDocuments.document(schema))).build()))
                .toolChoice(software.amazon.awssdk.services.bedrockruntime.model.ToolChoice.fromTool(
                        SpecificToolChoice.builder().name(RESPONSE_TOOL).build()))
                .build();
    }

    /** A tool call's arguments, which {@link #inexpressible} has checked: a JSON string on the wire, an object in Converse. */
    private static JsonNode arguments(JsonNode arguments) {
        return argumentsObject(arguments).orElseThrow();
    }

    private static Optional<JsonNode> argumentsObject(JsonNode arguments) {
        if (arguments.isMissingNode() || arguments.isNull() || (arguments.isTextual() && arguments.asText().isBlank())) {
            return Optional.of(JsonNodeFactory.instance.objectNode());
        }
        if (arguments.isTextual()) {
            try {
                JsonNode parsed = JSON.readTree(arguments.asText());
                return parsed != null && parsed.isObject() ? Optional.of(parsed) : Optional.empty();
            } catch (IOException e) {
                return Optional.empty();
            }
        }
        return arguments.isObject() ? Optional.of(arguments) : Optional.empty();
    }

    private static software.amazon.awssdk.services.bedrockruntime.model.Message turn(ConversationRole role, List<ContentBlock> content) {
        return software.amazon.awssdk.services.bedrockruntime.model.Message.builder().role(role).content(content).build();
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
