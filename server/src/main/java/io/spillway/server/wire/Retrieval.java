package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Optional;

/**
 * The {@code rag} extension of chat completions: search {@code collection} for the last user
 * message and put the passages scoring at least {@code minScore}, best first, into the prompt.
 *
 * @param filter the metadata filter as sent (validated against the collection when it is searched)
 * @param minSeq the sequence number of a write the search must see (a write's {@code seq}, from any
 *               replica); 0 for none
 */
public record Retrieval(String collection, int topK, double minScore, Optional<JsonNode> filter, long minSeq) {

    public Retrieval {
        filter = filter.map(JsonNode::deepCopy);
        if (minSeq < 0) {
            throw new IllegalArgumentException("minSeq must not be negative");
        }
    }

    public Retrieval(String collection, int topK, double minScore, Optional<JsonNode> filter) {
        this(collection, topK, minScore, filter, 0);
    }
}
