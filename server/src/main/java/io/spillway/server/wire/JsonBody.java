package io.spillway.server.wire;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;

/** A request body read as one JSON object, with OpenAI's wording when it is not one. */
public final class JsonBody {

    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static {
        // Deeply nested JSON is rejected while parsing, before it costs anything.
        JSON.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(256).build());
    }

    private JsonBody() {
    }

    /** The body's fields; a 400 when the bytes are not a JSON object in UTF-8. */
    public static Fields parse(byte[] body) {
        JsonNode node;
        try {
            node = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw OpenAiException.invalid("We could not parse the JSON body of your request: " + e.getOriginalMessage()
                    + ". The body must be valid JSON in UTF-8.", null, "invalid_json");
        } catch (IOException e) {
            throw OpenAiException.invalid("We could not read the body of your request: " + e.getMessage(), null, "invalid_json");
        }
        if (node == null || node.isMissingNode()) {
            throw OpenAiException.invalid("The request body is empty: send a JSON object.", null, "invalid_json");
        }
        return new Fields(node);
    }
}
