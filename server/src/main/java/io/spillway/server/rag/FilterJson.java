package io.spillway.server.rag;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.vectors.Filter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Metadata filters from JSON: {@code {"lang": "en", "year": {"gte": 2020, "lt": 2024},
 * "tag": {"in": ["a", "b"]}}}. All conditions must hold.
 */
public final class FilterJson {

    private FilterJson() {
    }

    public static Filter parse(JsonNode node) {
        if (node == null || node.isNull()) {
            return Filter.NONE;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException("'filter' must be an object of field conditions");
        }
        List<Filter.Condition> conditions = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String field = e.getKey();
            JsonNode c = e.getValue();
            if (!c.isObject()) {
                conditions.add(new Filter.Equals(field, scalar(field, c)));
                continue;
            }
            Object lower = null;
            Object upper = null;
            boolean lowerInclusive = false;
            boolean upperInclusive = false;
            for (Iterator<Map.Entry<String, JsonNode>> ops = c.fields(); ops.hasNext(); ) {
                Map.Entry<String, JsonNode> op = ops.next();
                switch (op.getKey()) {
                    case "eq" -> conditions.add(new Filter.Equals(field, scalar(field, op.getValue())));
                    case "in" -> {
                        if (!op.getValue().isArray()) {
                            throw new IllegalArgumentException("filter on '" + field + "': 'in' takes an array");
                        }
                        List<Object> values = new ArrayList<>();
                        op.getValue().forEach(v -> values.add(scalar(field, v)));
                        conditions.add(new Filter.In(field, values));
                    }
                    case "gt", "gte" -> {
                        lower = orderable(field, op.getValue());
                        lowerInclusive = op.getKey().equals("gte");
                    }
                    case "lt", "lte" -> {
                        upper = orderable(field, op.getValue());
                        upperInclusive = op.getKey().equals("lte");
                    }
                    default -> throw new IllegalArgumentException("filter on '" + field + "': unknown operator '" + op.getKey()
                            + "' (use eq, in, gt, gte, lt, lte)");
                }
            }
            if (lower != null || upper != null) {
                conditions.add(new Filter.Range(field, lower, lowerInclusive, upper, upperInclusive));
            }
        }
        return new Filter(conditions);
    }

    /** A JSON scalar as the metadata types: string, long, double, boolean. */
    public static Object scalar(String field, JsonNode v) {
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isBoolean()) {
            return v.asBoolean();
        }
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            return v.asLong();
        }
        if (v.isNumber()) {
            return v.asDouble();
        }
        throw new IllegalArgumentException("'" + field + "': metadata values are strings, numbers or booleans, got " + v.getNodeType());
    }

    private static Object orderable(String field, JsonNode v) {
        Object s = scalar(field, v);
        if (s instanceof Boolean) {
            throw new IllegalArgumentException("filter on '" + field + "': booleans have no order");
        }
        return s;
    }
}
