package io.spillway.server.wire;

import java.util.List;
import java.util.Optional;

/**
 * What every body and chunk of one completion response shares, and what the request asked to see.
 *
 * @param chat           a chat completion (else a legacy text completion)
 * @param route          where it ran, reported in chat responses ("local", "bedrock")
 * @param sources        retrieved passages, when the request asked for retrieval
 * @param showTokenIds   each choice carries its token ids (asked for, or the model has no tokenizer)
 * @param showLogprobs   log-probabilities were asked for
 * @param showCost       usage carries cost_usd (answers from a paid service)
 * @param includeUsage   a stream ends with a usage chunk
 */
public record ResponseHead(String id, boolean chat, long created, String model, Optional<String> systemFingerprint,
                           Optional<String> route, Optional<List<Source>> sources, boolean showTokenIds, boolean showLogprobs, boolean showCost,
                           boolean includeUsage) {

    public ResponseHead {
        sources = sources.map(List::copyOf);
    }
}
