package io.spillway.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.models.template.ChatTemplate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks an OpenAI {@code messages} array and turns it into what chat templates expect: each
 * message a dict with a role and string content (an array of text parts is joined with newlines,
 * as vLLM does for text-only models), other fields (tool_calls, tool_call_id, name) kept as sent.
 * The "developer" role becomes "system", which templates know.
 */
final class ChatMessages {

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool", "function");
    /** More messages than this are refused before any template work (a flood of tiny messages). */
    static final int MAX_MESSAGES = 8192;

    private ChatMessages() {
    }

    static List<Object> normalize(JsonNode messages) {
        if (messages == null) {
            throw OpenAiException.invalid("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        }
        if (!messages.isArray()) {
            throw Params.wrongType("messages", "an array", messages);
        }
        if (messages.isEmpty()) {
            throw OpenAiException.invalid("Invalid 'messages': empty array. Expected an array with minimum length 1.", "messages",
                    "empty_array");
        }
        if (messages.size() > MAX_MESSAGES) {
            throw OpenAiException.invalid("Invalid 'messages': at most " + MAX_MESSAGES + " messages per request, got "
                    + messages.size() + ".", "messages", "array_above_max_length");
        }
        List<Object> out = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            out.add(message(messages.get(i), "messages[" + i + "]"));
        }
        return out;
    }

    private static Map<Object, Object> message(JsonNode m, String where) {
        if (!m.isObject()) {
            throw Params.wrongType(where, "an object", m);
        }
        JsonNode roleNode = m.get("role");
        if (roleNode == null || !roleNode.isTextual()) {
            throw OpenAiException.invalid("Missing or invalid '" + where + ".role': expected one of " + ROLES + ".", where + ".role");
        }
        String role = roleNode.asText();
        if (!ROLES.contains(role)) {
            throw OpenAiException.invalid("Invalid value for '" + where + ".role': '" + role + "'. Supported values are: "
                    + String.join(", ", ROLES.stream().sorted().toList()) + ".", where + ".role", "invalid_value");
        }
        @SuppressWarnings("unchecked")
        Map<Object, Object> out = (Map<Object, Object>) ChatTemplate.fromJson(m);
        out = new LinkedHashMap<>(out);
        out.put("role", role.equals("developer") ? "system" : role);
        JsonNode content = m.get("content");
        boolean mayOmitContent = role.equals("assistant") && m.has("tool_calls");
        if (content == null || content.isNull()) {
            if (!mayOmitContent) {
                throw OpenAiException.invalid("Missing required parameter: '" + where + ".content'.", where + ".content",
                        "missing_required_parameter");
            }
            out.put("content", "");
        } else if (content.isTextual()) {
            out.put("content", content.asText());
        } else if (content.isArray()) {
            out.put("content", joinTextParts(content, where + ".content"));
        } else {
            throw Params.wrongType(where + ".content", "a string or an array of content parts", content);
        }
        return out;
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
}
