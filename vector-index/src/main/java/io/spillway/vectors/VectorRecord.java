package io.spillway.vectors;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One entry of a collection: an id, its vector and typed metadata. Metadata values are strings,
 * longs, doubles or booleans: the types filters can compare.
 */
public record VectorRecord(String id, float[] vector, Map<String, Object> metadata) {

    public static final int MAX_ID_BYTES = 512;

    public VectorRecord {
        if (id == null || id.isEmpty()) {
            throw new IllegalArgumentException("a record needs a non-empty id");
        }
        if (id.length() > MAX_ID_BYTES) {
            throw new IllegalArgumentException("record id longer than " + MAX_ID_BYTES + " characters");
        }
        if (vector == null) {
            throw new IllegalArgumentException("record '" + id + "' has no vector");
        }
        Map<String, Object> copy = new LinkedHashMap<>();
        if (metadata != null) {
            metadata.forEach((k, v) -> copy.put(k, normalize(id, k, v)));
        }
        metadata = Collections.unmodifiableMap(copy);
    }

    private static Object normalize(String id, String key, Object value) {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("record '" + id + "' has a metadata field without a name");
        }
        return switch (value) {
            case String s -> s;
            case Boolean b -> b;
            case Long l -> l;
            case Integer i -> i.longValue();
            case Short s -> s.longValue();
            case Double d -> d;
            case Float f -> f.doubleValue();
            case null -> throw new IllegalArgumentException("metadata field '" + key + "' of record '" + id + "' is null");
            default -> throw new IllegalArgumentException("metadata field '" + key + "' of record '" + id
                    + "' is a " + value.getClass().getSimpleName() + ": use a string, number or boolean");
        };
    }
}
