package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Reads each request body once into its typed record, refusing what no route could serve with a
 * 400 that names the parameter, in OpenAI's words. What only a model can check (token ids against
 * its vocabulary, lengths against its context, its chat template) is checked where it runs.
 */
public final class Requests {

    /** More messages than this are refused before any template work (a flood of tiny messages). */
    public static final int MAX_MESSAGES = 8192;
    /** Most prompts in one completions request. */
    public static final int MAX_PROMPTS = 256;
    /** Most retrieved passages a chat request may ask for. */
    public static final int MAX_RETRIEVAL_TOP_K = 50;

    private Requests() {
    }

    public static ChatRequest chat(Fields p) {
        String model = p.requiredString("model");
        List<Message> messages = messages(p.get("messages"));
        GenerationOptions options = options(p, true);
        ToolUse tools = toolUse(p);
        ChatTemplateOptions template = template(p);
        Optional<Retrieval> retrieval = retrieval(p.get("rag"));
        String route = p.string("route", "auto");
        if (!route.equals("auto") && !route.equals("local-only")) {
            throw OpenAiException.invalid("Invalid 'route': expected 'auto' or 'local-only', got '" + route + "'.", "route");
        }
        return new ChatRequest(model, messages, options, tools, template, retrieval,
                route.equals("auto") ? RoutePreference.AUTO : RoutePreference.LOCAL_ONLY, delivery(p));
    }

    public static CompletionRequest completion(Fields p) {
        String model = p.requiredString("model");
        List<Prompt> prompts = prompts(p.get("prompt"));
        GenerationOptions options = options(p, false);
        boolean echo = p.bool("echo", false);
        if (p.has("suffix")) {
            throw OpenAiException.invalid("Invalid 'suffix': insertion (fill-in-the-middle) is not supported.", "suffix");
        }
        Long bestOf = p.integer("best_of", 1, 128);
        if (bestOf != null && bestOf != options.n()) {
            throw OpenAiException.invalid("Invalid 'best_of': only best_of equal to n is supported.", "best_of");
        }
        return new CompletionRequest(model, prompts, options, echo, delivery(p));
    }

    public static TokenizeRequest tokenize(Fields p) {
        Optional<String> model = Optional.ofNullable(p.string("model", null));
        if (p.has("messages")) {
            return new TokenizeRequest(model, Optional.empty(), messages(p.get("messages")), tools(p.get("tools")), template(p),
                    p.bool("add_special_tokens", false), p.bool("return_token_strs", false));
        }
        if (p.has("prompt")) {
            return new TokenizeRequest(model, Optional.of(p.requiredString("prompt")), List.of(), List.of(), template(p),
                    p.bool("add_special_tokens", true), p.bool("return_token_strs", false));
        }
        throw OpenAiException.invalid("Send either 'prompt' or 'messages'.", "prompt", "missing_required_parameter");
    }

    public static DetokenizeRequest detokenize(Fields p) {
        Optional<String> model = Optional.ofNullable(p.string("model", null));
        JsonNode tokens = p.array("tokens");
        if (tokens == null) {
            throw OpenAiException.invalid("Missing required parameter: 'tokens'.", "tokens", "missing_required_parameter");
        }
        return new DetokenizeRequest(model, tokenIds(tokens, "tokens", "tokens"));
    }

    public static EmbeddingRequest embeddings(Fields p) {
        String model = p.requiredString("model");
        String format = p.string("encoding_format", "float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw OpenAiException.invalid("Invalid 'encoding_format': expected 'float' or 'base64', got '" + format + "'.",
                    "encoding_format");
        }
        Long dimensions = p.integer("dimensions", 1, Integer.MAX_VALUE);
        return new EmbeddingRequest(model, embeddingInputs(p.get("input")), format.equals("base64"),
                Optional.ofNullable(dimensions).map(Long::intValue));
    }

    // ---- messages ----

    private static final List<String> ROLES = List.of("assistant", "developer", "function", "system", "tool", "user");

    static List<Message> messages(JsonNode messages) {
        if (messages == null) {
            throw OpenAiException.invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }
        if (!messages.isArray()) {
            throw Fields.wrongType("messages", "an array", messages);
        }
        if (messages.isEmpty()) {
            throw OpenAiException.invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
                    "empty_array");
        }
        if (messages.size() > MAX_MESSAGES) {
            throw OpenAiException.invalid("Invalid 'messages': at most " + MAX_MESSAGES + " messages per request, got "
                    + messages.size() + ".", "messages", "array_above_max_length");
        }
        List<Message> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            out.add(message(messages.get(i), "messages[" + i + "]"));
        }
        return out;
    }

    private static Message message(JsonNode m, String where) {
        if (!m.isObject()) {
            throw Fields.wrongType(where, "an object", m);
        }
        JsonNode roleNode = m.get("role");
        if (roleNode == null || !roleNode.isTextual()) {
            throw OpenAiException.invalid("Missing or invalid '" + where + ".role': expected one of " + ROLES + ".", where + ".role");
        }
        String name = roleNode.asText();
        if (!ROLES.contains(name)) {
            throw OpenAiException.invalid("Invalid value for '" + where + ".role': '" + name + "'. Supported values are: "
                    + String.join(", ", ROLES) + ".", where + ".role", "invalid_value");
        }
        Role role = name.equals("developer") ? Role.SYSTEM : Role.valueOf(name.toUpperCase(java.util.Locale.ROOT));
        JsonNode content = m.get("content");
        boolean mayOmitContent = role == Role.ASSISTANT && m.has("tool_calls");
        String text;
        if (content == null || content.isNull()) {
            if (!mayOmitContent) {
                throw OpenAiException.invalid("Missing required parameter: '" + where + ".content'.", where + ".content",
                        "missing_required_parameter");
            }
            text = "";
        } else if (content.isTextual()) {
            text = content.asText();
        } else if (content.isArray()) {
            text = joinTextParts(content, where + ".content");
        } else {
            throw Fields.wrongType(where + ".content", "a string or an array of content parts", content);
        }
        ObjectNode extra = ((ObjectNode) m).deepCopy();
        extra.remove("role");
        extra.remove("content");
        return new Message(role, text, extra);
    }

    private static String joinTextParts(JsonNode parts, String where) {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            JsonNode part = parts.get(i);
            String at = where + "[" + i + "]";
            if (!part.isObject() || !part.path("type").isTextual()) {
                throw OpenAiException.invalid("Invalid '" + at + "': expected a content part object with a 'type'.", at);
            }
            String type = part.get("type").asText();
            if (!type.equals("text")) {
                throw OpenAiException.invalid("Invalid '" + at + ".type': '" + type + "' content is not supported by this text model.",
                        at + ".type", "unsupported_content");
            }
            if (!part.path("text").isTextual()) {
                throw OpenAiException.invalid("Missing required parameter: '" + at + ".text'.", at + ".text", "missing_required_parameter");
            }
            texts.add(part.get("text").asText());
        }
        return String.join("\n", texts);
    }

    private static ChatTemplateOptions template(Fields p) {
        ObjectNode kwargs = p.object("chat_template_kwargs");
        return new ChatTemplateOptions(Optional.ofNullable(p.array("documents")), Optional.ofNullable(p.string("chat_template", null)),
                Optional.ofNullable(kwargs), p.bool("add_generation_prompt", true), p.bool("add_special_tokens", false));
    }

    // ---- tools ----

    private static final java.util.regex.Pattern TOOL_NAME = java.util.regex.Pattern.compile("[A-Za-z0-9_.-]{1,64}");

    private static ToolUse toolUse(Fields p) {
        List<Tool> tools = tools(p.get("tools"));
        ToolChoice choice = toolChoice(p.get("tool_choice"), tools);
        boolean parallel = p.bool("parallel_tool_calls", true);
        if (p.has("functions") || p.has("function_call")) {
            throw OpenAiException.invalid("'functions' and 'function_call' are deprecated and not supported: send 'tools' and"
                    + " 'tool_choice'.", p.has("functions") ? "functions" : "function_call");
        }
        return new ToolUse(tools, choice, parallel);
    }

    private static List<Tool> tools(JsonNode tools) {
        if (tools == null) {
            return List.of();
        }
        if (!tools.isArray()) {
            throw Fields.wrongType("tools", "an array", tools);
        }
        List<Tool> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < tools.size(); i++) {
            String where = "tools[" + i + "]";
            JsonNode t = tools.get(i);
            if (!t.isObject()) {
                throw Fields.wrongType(where, "an object", t);
            }
            Fields tool = new Fields(t);
            if (!"function".equals(tool.string("type", "function"))) {
                throw OpenAiException.invalid("Invalid '" + where + ".type': only 'function' tools are supported.", where + ".type",
                        "invalid_value");
            }
            ObjectNode fn = tool.object("function");
            if (fn == null) {
                throw OpenAiException.invalid("Missing required parameter: '" + where + ".function'.", where + ".function",
                        "missing_required_parameter");
            }
            Fields function = new Fields(fn);
            String name = function.string("name", null);
            if (name == null || !TOOL_NAME.matcher(name).matches()) {
                throw OpenAiException.invalid("Invalid '" + where + ".function.name': a function name is 1 to 64 letters, digits,"
                        + " underscores, dots or dashes.", where + ".function.name", "invalid_value");
            }
            if (!names.add(name)) {
                throw OpenAiException.invalid("Invalid 'tools': the function name '" + name + "' is used twice.", where + ".function.name",
                        "invalid_value");
            }
            JsonNode parameters = function.object("parameters");
            out.add(new Tool(name, Optional.ofNullable(function.string("description", null)),
                    parameters == null ? com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode()
                            .put("type", "object") : parameters,
                    function.bool("strict", false), (ObjectNode) t));
        }
        return out;
    }

    private static ToolChoice toolChoice(JsonNode choice, List<Tool> tools) {
        if (choice == null) {
            return tools.isEmpty() ? new ToolChoice.None() : new ToolChoice.Auto();
        }
        ToolChoice parsed;
        if (choice.isTextual()) {
            parsed = switch (choice.asText()) {
                case "none" -> new ToolChoice.None();
                case "auto" -> new ToolChoice.Auto();
                case "required" -> new ToolChoice.Required();
                default -> throw OpenAiException.invalid("Invalid 'tool_choice': expected 'none', 'auto', 'required' or a named"
                        + " function, got '" + choice.asText() + "'.", "tool_choice", "invalid_value");
            };
        } else if (choice.isObject() && choice.path("function").path("name").isTextual()) {
            parsed = new ToolChoice.Named(choice.path("function").path("name").asText());
        } else {
            throw OpenAiException.invalid("Invalid 'tool_choice': expected 'none', 'auto', 'required' or"
                    + " {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice");
        }
        if (!(parsed instanceof ToolChoice.None) && tools.isEmpty()) {
            throw OpenAiException.invalid("Invalid 'tool_choice': it needs 'tools'.", "tool_choice");
        }
        if (parsed instanceof ToolChoice.Named named && tools.stream().noneMatch(t -> t.name().equals(named.name()))) {
            throw OpenAiException.invalid("Invalid 'tool_choice': no tool is named '" + named.name() + "'.", "tool_choice",
                    "invalid_value");
        }
        return parsed;
    }

    /** response_format, or vLLM's guided_json / structured_outputs.json. */
    private static ResponseFormat responseFormat(Fields p) {
        ObjectNode format = p.object("response_format");
        if (format != null) {
            Fields f = new Fields(format);
            String type = f.string("type", "text");
            switch (type) {
                case "text" -> {
                    return new ResponseFormat.Text();
                }
                case "json_object" -> {
                    return new ResponseFormat.JsonObject();
                }
                case "json_schema" -> {
                    ObjectNode spec = f.object("json_schema");
                    if (spec == null) {
                        throw OpenAiException.invalid("Missing required parameter: 'response_format.json_schema'.",
                                "response_format.json_schema", "missing_required_parameter");
                    }
                    Fields js = new Fields(spec);
                    String name = js.string("name", "response");
                    ObjectNode schema = js.object("schema");
                    if (schema == null) {
                        throw OpenAiException.invalid("Missing required parameter: 'response_format.json_schema.schema'.",
                                "response_format.json_schema.schema", "missing_required_parameter");
                    }
                    return new ResponseFormat.JsonSchema(name, schema, js.bool("strict", false));
                }
                default -> throw OpenAiException.invalid("Invalid 'response_format.type': expected 'text', 'json_object' or"
                        + " 'json_schema', got '" + type + "'.", "response_format.type", "invalid_value");
            }
        }
        ObjectNode guided = p.object("guided_json");
        if (guided != null) {
            return new ResponseFormat.JsonSchema("guided_json", guided, true);
        }
        ObjectNode structured = p.object("structured_outputs");
        if (structured != null && structured.hasNonNull("json")) {
            JsonNode json = structured.get("json");
            if (!json.isObject()) {
                throw Fields.wrongType("structured_outputs.json", "an object", json);
            }
            return new ResponseFormat.JsonSchema("structured_outputs", json, true);
        }
        return new ResponseFormat.Text();
    }

    private static Optional<Retrieval> retrieval(JsonNode rag) {
        if (rag == null) {
            return Optional.empty();
        }
        if (!rag.isObject()) {
            throw OpenAiException.invalid("'rag' must be an object: {\"collection\": ..., \"top_k\": ..., \"min_score\": ...}.", "rag");
        }
        JsonNode name = rag.get("collection");
        if (name == null || !name.isTextual()) {
            throw OpenAiException.invalid("'rag.collection' must name one of your collections.", "rag.collection");
        }
        int topK = 4;
        if (rag.has("top_k")) {
            JsonNode k = rag.get("top_k");
            if (!k.isIntegralNumber() || k.asInt() < 1 || k.asInt() > MAX_RETRIEVAL_TOP_K) {
                throw OpenAiException.invalid("'rag.top_k' must be an integer in [1, " + MAX_RETRIEVAL_TOP_K + "].", "rag.top_k");
            }
            topK = k.asInt();
        }
        double minScore = Double.NEGATIVE_INFINITY;
        if (rag.has("min_score")) {
            JsonNode s = rag.get("min_score");
            if (!s.isNumber()) {
                throw OpenAiException.invalid("'rag.min_score' must be a number.", "rag.min_score");
            }
            minScore = s.asDouble();
        }
        long minSeq = 0;
        if (rag.has("min_seq") && !rag.get("min_seq").isNull()) {
            JsonNode s = rag.get("min_seq");
            if (!s.isIntegralNumber() || !s.canConvertToLong() || s.asLong() < 0) {
                throw OpenAiException.invalid("'rag.min_seq' must be a non-negative integer: the 'seq' of a write to the collection.",
                        "rag.min_seq");
            }
            minSeq = s.asLong();
        }
        JsonNode filter = rag.get("filter");
        return Optional.of(new Retrieval(name.asText(), topK, minScore,
                filter == null || filter.isNull() ? Optional.empty() : Optional.of(filter), minSeq));
    }

    // ---- prompts ----

    private static List<Prompt> prompts(JsonNode prompt) {
        if (prompt == null) {
            throw OpenAiException.invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        }
        List<Prompt> prompts = new ArrayList<>();
        if (prompt.isTextual()) {
            prompts.add(new Prompt.Text(prompt.asText()));
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            prompts.add(new Prompt.Tokens(tokenIds(prompt, "prompt", "prompt")));
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            for (int i = 0; i < prompt.size(); i++) {
                JsonNode item = prompt.get(i);
                if (item.isTextual()) {
                    prompts.add(new Prompt.Text(item.asText()));
                } else if (item.isArray()) {
                    prompts.add(new Prompt.Tokens(tokenIds(item, "prompt[" + i + "]", "prompt")));
                } else {
                    throw Fields.wrongType("prompt[" + i + "]", "a string or an array of token ids", item);
                }
            }
        } else {
            throw OpenAiException.invalid("Invalid 'prompt': expected a string, an array of strings, an array of token ids,"
                    + " or an array of token id arrays (and not empty).", "prompt");
        }
        if (prompts.size() > MAX_PROMPTS) {
            throw OpenAiException.invalid("Invalid 'prompt': at most " + MAX_PROMPTS + " prompts per request.", "prompt");
        }
        return prompts;
    }

    /** Integers that fit a token id; whether the model has them is checked by {@link TokenIds}. */
    private static int[] tokenIds(JsonNode array, String name, String param) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode n = array.get(i);
            if (!n.isIntegralNumber() || !n.canConvertToInt()) {
                throw OpenAiException.invalid("Invalid '" + name + "': token ids must be integers, found " + n + " at position " + i
                        + ".", param);
            }
            out[i] = n.asInt();
        }
        return out;
    }

    private static List<EmbeddingRequest.Input> embeddingInputs(JsonNode input) {
        if (input == null) {
            throw OpenAiException.invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
        }
        List<EmbeddingRequest.Input> out = new ArrayList<>();
        if (input.isTextual()) {
            out.add(embeddingText(input, "input"));
        } else if (input.isArray() && !input.isEmpty() && input.get(0).isNumber()) {
            out.add(new EmbeddingRequest.TokenInput("input", tokenIds(input, "input", "input")));
        } else if (input.isArray() && !input.isEmpty()) {
            if (input.size() > EmbeddingRequest.MAX_INPUTS) {
                throw OpenAiException.invalid("Invalid 'input': at most " + EmbeddingRequest.MAX_INPUTS + " inputs per request, got "
                        + input.size() + ".", "input");
            }
            for (int i = 0; i < input.size(); i++) {
                JsonNode item = input.get(i);
                String name = "input[" + i + "]";
                if (item.isTextual()) {
                    out.add(embeddingText(item, name));
                } else if (item.isArray()) {
                    if (item.isEmpty()) {
                        throw OpenAiException.invalid("Invalid '" + name + "': an array of token ids must not be empty.", "input");
                    }
                    out.add(new EmbeddingRequest.TokenInput(name, tokenIds(item, name, "input")));
                } else {
                    throw Fields.wrongType(name, "a string or an array of token ids", item);
                }
            }
        } else {
            throw OpenAiException.invalid("Invalid 'input': expected a non-empty string, array of strings, array of token ids,"
                    + " or array of token id arrays.", "input");
        }
        return out;
    }

    private static EmbeddingRequest.TextInput embeddingText(JsonNode node, String name) {
        if (node.asText().isEmpty()) {
            throw OpenAiException.invalid("Invalid '" + name + "': an input must not be an empty string.", "input");
        }
        return new EmbeddingRequest.TextInput(name, node.asText());
    }

    // ---- generation options ----

    private static GenerationOptions options(Fields p, boolean chat) {
        String maxName = chat && p.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        Optional<Integer> maxTokens = Optional.ofNullable(p.integer(maxName, 1, Integer.MAX_VALUE)).map(Long::intValue);
        int n = optInt(p.integer("n", 1, 128), 1);
        Optional<Double> temperature = Optional.ofNullable(p.number("temperature", 0, 2));
        Optional<Double> topP = Optional.ofNullable(p.number("top_p", 0, 1));
        if (topP.isPresent() && topP.get() == 0) {
            throw OpenAiException.invalid("Invalid 'top_p': top_p must be in (0, 1], was 0.0", "top_p");
        }
        Optional<Integer> topK = Optional.ofNullable(p.integer("top_k", -1, Integer.MAX_VALUE)).map(Long::intValue);
        Optional<Double> minP = Optional.ofNullable(p.number("min_p", 0, 1));
        Optional<Double> repetition = Optional.ofNullable(p.number("repetition_penalty", Double.MIN_VALUE, 10));
        double presence = optDouble(p.number("presence_penalty", -2, 2), 0);
        double frequency = optDouble(p.number("frequency_penalty", -2, 2), 0);
        Optional<Long> seed = Optional.ofNullable(p.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE));
        List<String> stop = p.stringOrStrings("stop", GenerationOptions.MAX_STOP);
        Set<Integer> stopTokenIds = stopTokenIds(p);
        Map<Integer, Float> logitBias = logitBias(p);
        int minTokens = optInt(p.integer("min_tokens", 0, Integer.MAX_VALUE), 0);
        if (maxTokens.isPresent() && minTokens > maxTokens.get()) {
            throw OpenAiException.invalid("Invalid 'min_tokens': min_tokens must be in [0, max_tokens], was " + minTokens, "min_tokens");
        }
        boolean ignoreEos = p.bool("ignore_eos", false);
        boolean skipSpecial = p.bool("skip_special_tokens", true);
        Optional<Integer> logprobs;
        if (chat) {
            boolean wanted = p.bool("logprobs", false);
            Long top = p.integer("top_logprobs", 0, GenerationOptions.MAX_LOGPROBS);
            if (top != null && !wanted) {
                throw OpenAiException.invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
            }
            logprobs = wanted ? Optional.of(optInt(top, 0)) : Optional.empty();
        } else {
            logprobs = Optional.ofNullable(p.integer("logprobs", 0, GenerationOptions.MAX_LOGPROBS)).map(Long::intValue);
        }
        ResponseFormat format = responseFormat(p);
        return new GenerationOptions(maxTokens, n, temperature, topP, topK, minP, repetition, presence, frequency, seed, stop,
                stopTokenIds, logitBias, minTokens, ignoreEos, skipSpecial, logprobs, p.bool("return_token_ids", false), format);
    }

    private static Delivery delivery(Fields p) {
        boolean stream = p.bool("stream", false);
        ObjectNode streamOptions = p.object("stream_options");
        if (streamOptions != null && !stream) {
            throw OpenAiException.invalid("'stream_options' is only allowed when 'stream' is true.", "stream_options");
        }
        boolean includeUsage = streamOptions != null && new Fields(streamOptions).bool("include_usage", false);
        p.string("user", null);
        Optional<Boolean> semantic = p.has("semantic_cache") ? Optional.of(p.bool("semantic_cache", false)) : Optional.empty();
        return new Delivery(stream, includeUsage, semantic);
    }

    private static Set<Integer> stopTokenIds(Fields p) {
        JsonNode array = p.array("stop_token_ids");
        Set<Integer> out = new HashSet<>();
        if (array != null) {
            for (int id : tokenIds(array, "stop_token_ids", "stop_token_ids")) {
                out.add(id);
            }
        }
        return out;
    }

    private static Map<Integer, Float> logitBias(Fields p) {
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
            if (!e.getValue().isNumber() || Math.abs(e.getValue().asDouble()) > 100) {
                throw OpenAiException.invalid("Invalid 'logit_bias': bias for " + token + " must be a number in [-100, 100].", "logit_bias");
            }
            out.put(token, (float) e.getValue().asDouble());
        }
        return out;
    }

    private static int optInt(Long v, int fallback) {
        return v == null ? fallback : v.intValue();
    }

    private static double optDouble(Double v, double fallback) {
        return v == null ? fallback : v;
    }
}
