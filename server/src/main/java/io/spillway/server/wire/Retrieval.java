package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;

/**
 * The {@code rag} extension of chat completions: search {@code collection} for the last user
 * message and put the passages scoring at least {@code minScore}, best first, into the prompt.
 *
 * @param filter the metadata filter as sent (validated against the collection when it is searched)
 */
public record Retrieval(String collection, int topK, double minScore, Optional<JsonNode> filter) {

    public Retrieval {
        filter = filter.map(JsonNode::deepCopy);
    }
}
