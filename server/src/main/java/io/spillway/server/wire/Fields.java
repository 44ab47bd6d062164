package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of a request body's fields. A wrong type or range is a 400 that names the field
 * and says what was expected, as OpenAI words it; unknown fields are ignored, as OpenAI does.
 */
public final class Fields {

    private final ObjectNode body;

    public Fields(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw OpenAiException.invalid("The request body must be a JSON object.", null);
        }
        this.body = (ObjectNode) body;
    }

    public boolean has(String name) {
        JsonNode n = body.get(name);
        return n != null && !n.isNull();
    }

    public JsonNode get(String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    public static OpenAiException wrongType(String name, String expected, JsonNode actual) {
        return OpenAiException.invalid("Invalid type for '" + name + "': expected " + expected + ", but got "
                + describe(actual) + " instead.", name, "invalid_type");
    }

    public static String describe(JsonNode n) {
        if (n.isTextual()) {
            return "a string";
        }
        if (n.isBoolean()) {
            return "a boolean";
        }
        if (n.isIntegralNumber()) {
            return "an integer";
        }
        if (n.isNumber()) {
            return "a decimal";
        }
        if (n.isArray()) {
            return "an array";
        }
        if (n.isObject()) {
            return "an object";
        }
        return "null";
    }

    public String string(String name, String fallback) {
        JsonNode n = get(name);
        if (n == null) {
            return fallback;
        }
        if (!n.isTextual()) {
            throw wrongType(name, "a string", n);
        }
        return n.asText();
    }

    public String requiredString(String name) {
        String s = string(name, null);
        if (s == null) {
            throw OpenAiException.invalid("Missing required parameter: '" + name + "'.", name, "missing_required_parameter");
        }
        return s;
    }

    public boolean bool(String name, boolean fallback) {
        JsonNode n = get(name);
        if (n == null) {
            return fallback;
        }
        if (!n.isBoolean()) {
            throw wrongType(name, "a boolean", n);
        }
        return n.asBoolean();
    }

    public Long integer(String name, long min, long max) {
        JsonNode n = get(name);
        if (n == null) {
            return null;
        }
        if (!n.isIntegralNumber() && !(n.isNumber() && n.asDouble() == Math.rint(n.asDouble()))) {
            throw wrongType(name, "an integer", n);
        }
        if (!n.canConvertToLong()) {
            throw OpenAiException.invalid("Invalid '" + name + "': integer out of range.", name, "integer_out_of_range");
        }
        long v = n.asLong();
        if (v < min || v > max) {
            throw OpenAiException.invalid("Invalid '" + name + "': " + v + " is " + (v < min ? "less than the minimum of " + min
                    : "greater than the maximum of " + max) + ".", name, "integer_out_of_range");
        }
        return v;
    }

    public Double number(String name, double min, double max) {
        JsonNode n = get(name);
        if (n == null) {
            return null;
        }
        if (!n.isNumber()) {
            throw wrongType(name, "a number", n);
        }
        double v = n.asDouble();
        if (!(v >= min && v <= max)) {
            throw OpenAiException.invalid("Invalid '" + name + "': " + v + " is " + (v < min ? "less than the minimum of " + min
                    : "greater than the maximum of " + max) + ".", name, "decimal_out_of_range");
        }
        return v;
    }

    /** A string or an array of strings (stop). */
    public List<String> stringOrStrings(String name, int maxItems) {
        JsonNode n = get(name);
        List<String> out = new ArrayList<>();
        if (n == null) {
            return out;
        }
        if (n.isTextual()) {
            out.add(n.asText());
        } else if (n.isArray()) {
            for (JsonNode item : n) {
                if (!item.isTextual()) {
                    throw wrongType(name + "[" + out.size() + "]", "a string", item);
                }
                out.add(item.asText());
            }
        } else {
            throw wrongType(name, "a string or an array of strings", n);
        }
        if (out.size() > maxItems) {
            throw OpenAiException.invalid("Invalid '" + name + "': at most " + maxItems + " items, got " + out.size() + ".", name);
        }
        for (String s : out) {
            if (s.isEmpty()) {
                throw OpenAiException.invalid("Invalid '" + name + "': empty strings are not allowed.", name);
            }
        }
        return out;
    }

    public ObjectNode object(String name) {
        JsonNode n = get(name);
        if (n == null) {
            return null;
        }
        if (!n.isObject()) {
            throw wrongType(name, "an object", n);
        }
        return (ObjectNode) n;
    }

    public JsonNode array(String name) {
        JsonNode n = get(name);
        if (n == null) {
            return null;
        }
        if (!n.isArray()) {
            throw wrongType(name, "an array", n);
        }
        return n;
    }
}
