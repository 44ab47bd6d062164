package io.spillway.server.engine;

import io.spillway.models.grammar.CompiledGrammar;
import io.spillway.models.sampling.SamplingParams;
import java.util.Optional;

/**
 * A generation request as the engine takes it: tokens in, sampling parameters, identity.
 *
 * @param id        unique among requests in flight (used to cancel)
 * @param prompt    prompt token ids (not empty)
 * @param params    sampling and stopping
 * @param cacheSalt separates prefix caches of tenants ("" shares with everyone)
 * @param maxQueueWaitSeconds refuse at once (as overloaded) when the estimated wait for the first
 *     token exceeds this, and withdraw the request ({@link FinishReason#WITHDRAWN}) if it is
 *     still waiting, unstarted, when the limit is about to pass; 0 means no limit. The router
 *     sets it when it can send the request elsewhere: the admission check is atomic, so a burst
 *     cannot all slip under it, and the withdrawal bounds what a wrong estimate can cost.
 * @param grammar   what every sample's text must follow (a JSON schema, a tool call), compiled for this model
 */
public record EngineRequest(String id, int[] prompt, SamplingParams params, String cacheSalt, double maxQueueWaitSeconds,
                            Optional<CompiledGrammar> grammar) {

    public EngineRequest(String id, int[] prompt, SamplingParams params, String cacheSalt) {
        this(id, prompt, params, cacheSalt, 0, Optional.empty());
    }

    public EngineRequest {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("prompt must contain at least one token");
        }
        prompt = prompt.clone();
        cacheSalt = cacheSalt == null ? "" : cacheSalt;
    }

    @Override
    public int[] prompt() {
        return prompt.clone();
    }

    int promptLength() {
        return prompt.length;
    }

    int[] promptView() {
        return prompt;
    }
}
