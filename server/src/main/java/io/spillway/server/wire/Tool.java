package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;

/**
 * A function the model may call.
 *
 * @param parameters the JSON Schema of its arguments (an object schema; {@code {}} when none was given)
 * @param strict     the arguments must follow the schema exactly
 * @param raw        the tool as sent, as chat templates render it
 */
public record Tool(String name, Optional<String> description, JsonNode parameters, boolean strict, ObjectNode raw) {

    public Tool {
        parameters = parameters.deepCopy();
        raw = raw.deepCopy();
    }
}
