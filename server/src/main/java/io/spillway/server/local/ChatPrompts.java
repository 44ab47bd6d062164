package io.spillway.server.local;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.models.template.ChatTemplate;
import io.spillway.server.wire.ChatTemplateOptions;
import io.spillway.server.wire.Message;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A conversation rendered with the served model's chat template, as transformers' apply_chat_template renders it. */
final class ChatPrompts {

    private ChatPrompts() {
    }

    static String render(ServedModel model, List<Message> messages, ChatTemplateOptions template) {
        Map<String, Object> vars = new LinkedHashMap<>();
        if (template.kwargs().isPresent()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = template.kwargs().get().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                vars.put(e.getKey(), ChatTemplate.fromJson(e.getValue()));
            }
        }
        vars.put("messages", asTemplateValues(messages));
        vars.put("add_generation_prompt", template.addGenerationPrompt());
        template.tools().ifPresent(t -> vars.put("tools", ChatTemplate.fromJson(t)));
        template.documents().ifPresent(d -> vars.put("documents", ChatTemplate.fromJson(d)));
        return model.renderChat(vars, template.chatTemplate().orElse(null), template.hasTools());
    }

    /** Each message as templates read it: a dict with its role, its text, and its other fields as sent. */
    private static List<Object> asTemplateValues(List<Message> messages) {
        List<Object> out = new ArrayList<>(messages.size());
        for (Message m : messages) {
            Map<Object, Object> dict = new LinkedHashMap<>();
            dict.put("role", m.role().wireName());
            dict.put("content", m.content());
            for (Iterator<Map.Entry<String, JsonNode>> it = m.extra().fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                dict.put(e.getKey(), ChatTemplate.fromJson(e.getValue()));
            }
            out.add(dict);
        }
        return out;
    }
}
