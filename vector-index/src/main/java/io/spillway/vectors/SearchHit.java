package io.spillway.vectors;

import java.util.Map;

/** A neighbour found by a query: higher {@code score} is closer (see {@link Metric}). */
public record SearchHit(String id, float score, Map<String, Object> metadata) {
}
