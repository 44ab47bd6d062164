package io.spillway.server.wire;

import java.util.Optional;

/** vLLM's {@code POST /detokenize}. */
public record DetokenizeRequest(Optional<String> model, int[] tokens) {

    public DetokenizeRequest {
        tokens = tokens.clone();
    }

    @Override
    public int[] tokens() {
        return tokens.clone();
    }
}
