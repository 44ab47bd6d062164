package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;

/** What shape the answer's text must have. */
public sealed interface ResponseFormat {

    /** Free text (the default). */
    record Text() implements ResponseFormat {
    }

    /** Any JSON object. */
    record JsonObject() implements ResponseFormat {
    }

    /** A JSON document valid under {@code schema}. */
    record JsonSchema(String name, JsonNode schema, boolean strict) implements ResponseFormat {

        public JsonSchema {
            schema = schema.deepCopy();
        }
    }
}
