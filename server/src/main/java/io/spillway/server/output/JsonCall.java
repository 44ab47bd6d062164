package io.spillway.server.output;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Optional;

/** One call as JSON models write it: {"name": ..., "arguments": {...}} (or "parameters", Llama's word). */
final class JsonCall {

    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    record Parsed(String name, String arguments) {
    }

    private JsonCall() {
    }

    static Optional<JsonNode> parse(String text) {
        try {
            return Optional.ofNullable(JSON.readTree(text.strip()));
        } catch (JsonProcessingException e) {
            return Optional.empty();
        }
    }

    /** The call a JSON object describes, with its arguments as compact JSON, or empty when it describes none. */
    static Optional<Parsed> call(JsonNode node) {
        if (node == null || !node.isObject() || !node.path("name").isTextual()) {
            return Optional.empty();
        }
        JsonNode args = node.has("arguments") ? node.get("arguments") : node.get("parameters");
        if (args == null || args.isNull()) {
            return Optional.of(new Parsed(node.get("name").asText(), "{}"));
        }
        if (args.isTextual()) {
            // Some models write the arguments as a JSON string already: keep it if it is JSON.
            return parse(args.asText()).filter(JsonNode::isObject).map(a -> new Parsed(node.get("name").asText(), a.toString()));
        }
        return args.isObject() ? Optional.of(new Parsed(node.get("name").asText(), args.toString())) : Optional.empty();
    }
}
