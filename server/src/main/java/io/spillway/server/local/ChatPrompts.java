package io.spillway.server.local;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.models.template.ChatTemplate;
import io.spillway.server.wire.ChatTemplateOptions;
import io.spillway.server.wire.Message;
import io.spillway.server.wire.Tool;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A conversation rendered with the served model's chat template, as transformers' apply_chat_template renders it. */
final class ChatPrompts {

    private ChatPrompts() {
    }

    static String render(ServedModel model, List<Message> messages, List<Tool> tools, ChatTemplateOptions template) {
        return model.renderChat(variables(messages, tools, template), template.chatTemplate().orElse(null), !tools.isEmpty());
    }

    /** The template's variables, as transformers gives them (the model's special tokens are added where it renders). */
    static Map<String, Object> variables(List<Message> messages, List<Tool> tools, ChatTemplateOptions template) {
        Map<String, Object> vars = new LinkedHashMap<>();
        if (template.kwargs().isPresent()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = template.kwargs().get().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                vars.put(e.getKey(), ChatTemplate.fromJson(e.getValue()));
            }
        }
        vars.put("messages", asTemplateValues(messages));
        vars.put("add_generation_prompt", template.addGenerationPrompt());
        if (!tools.isEmpty()) {
            List<Object> rendered = new ArrayList<>();
            tools.forEach(t -> rendered.add(ChatTemplate.fromJson(t.raw())));
            vars.put("tools", rendered);
        }
        template.documents().ifPresent(d -> vars.put("documents", ChatTemplate.fromJson(d)));
        return vars;
    }

    /**
     * Each message as templates read it: a dict with its role, its text, and its other fields as
     * sent, except that a tool call's arguments, a JSON string on the wire, are given to the template
     * as the object they encode (templates iterate them or apply tojson), as vLLM does.
     */
    private static List<Object> asTemplateValues(List<Message> messages) {
        List<Object> out = new ArrayList<>(messages.size());
        for (Message m : messages) {
            Map<Object, Object> dict = new LinkedHashMap<>();
            dict.put("role", m.role().wireName());
            dict.put("content", m.content());
            for (Iterator<Map.Entry<String, JsonNode>> it = m.extra().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode value = e.getKey().equals("tool_calls") ? withDecodedArguments(e.getValue()) : e.getValue();
                dict.put(e.getKey(), ChatTemplate.fromJson(value));
            }
            out.add(dict);
        }
        return out;
    }

    private static JsonNode withDecodedArguments(JsonNode calls) {
        JsonNode copy = calls.deepCopy();
        for (JsonNode call : copy) {
            JsonNode function = call.path("function");
            if (function instanceof com.fasterxml.jackson.databind.node.ObjectNode fn && fn.path("arguments").isTextual()) {
                try {
                    JsonNode args = JSON.readTree(fn.get("arguments").asText());
                    if (args != null && args.isObject()) {
                        fn.set("arguments", args);
                    }
                } catch (java.io.IOException e) {
                    // Arguments that are not JSON reach the template as the string they are.
                }
            }
        }
        return copy;
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();
}
