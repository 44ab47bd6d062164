package io.spillway.server.wire;

import java.util.List;

/**
 * One generated token with its log-probability and the most likely alternatives.
 *
 * @param token      the token's text
 * @param textOffset where the token starts in its choice's text (completions' text_offset)
 */
public record Logprob(String token, float logprob, List<Alternative> top, int textOffset) {

    public Logprob {
        top = List.copyOf(top);
    }

    public record Alternative(String token, float logprob) {
    }
}
