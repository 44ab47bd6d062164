package io.spillway.server.wire;

import java.util.List;
import java.util.Optional;

/**
 * {@code POST /v1/embeddings}: inputs as text or token ids, vectors as floats or base64
 * (little-endian float32, as OpenAI's SDKs decode it).
 */
public record EmbeddingRequest(String model, List<Input> inputs, boolean base64, Optional<Integer> dimensions) {

    /** Most inputs per request, OpenAI's own limit. */
    public static final int MAX_INPUTS = 2048;

    public EmbeddingRequest {
        inputs = List.copyOf(inputs);
    }

    /** One input; {@code name} is how errors refer to it ("input", "input[3]"). */
    public sealed interface Input {
        String name();
    }

    public record TextInput(String name, String text) implements Input {
    }

    public record TokenInput(String name, int[] ids) implements Input {

        public TokenInput {
            ids = ids.clone();
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }
    }
}
