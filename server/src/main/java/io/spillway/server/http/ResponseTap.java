package io.spillway.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * Sees, and may rewrite, everything an {@link Exchange} sends: the platform's output filters,
 * response cache, de-duplication and audit sit here, so the generators (local engine, Bedrock)
 * write responses without knowing about them. Calls come in response order, one at a time.
 */
public interface ResponseTap {

    /** A whole JSON response (an answer or an error) about to be sent; returns what to send instead. */
    default JsonNode body(int status, JsonNode body) {
        return body;
    }

    /** One Server-Sent Events payload about to be sent; returns the payloads to send in its place (maybe none). */
    default List<String> event(String payload) {
        return List.of(payload);
    }

    /** The event stream is ending: payloads still held back, to send before the end. */
    default List<String> beforeEnd() {
        return List.of();
    }

    /**
     * The exchange is over, once: {@code delivered} when the whole response was written, false when
     * the client went away first.
     */
    default void ended(boolean delivered) {
    }
}
