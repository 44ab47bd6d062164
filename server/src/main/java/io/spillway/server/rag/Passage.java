package io.spillway.server.rag;

import java.util.Map;

/** A retrieved record: its id, score, text (for document chunks) and metadata. */
public record Passage(String id, double score, String text, String documentId, Map<String, Object> metadata) {
}
