package io.spillway.server.generation;

/**
 * Whatever turns a request into text: the local engine, Bedrock, or a stage around another
 * generator (limits, filters, caches, the spill policy, the audit). The HTTP side sees only this.
 */
@FunctionalInterface
public interface Generator {

    /**
     * Starts generating, or refuses for lack of capacity. May block the calling (virtual) thread
     * until the generation has started: a request that can still be sent elsewhere is not accepted
     * before it is sure to run.
     *
     * @throws io.spillway.server.wire.OpenAiException for a request this generator cannot serve
     *     (an unknown model, a prompt too long, a policy violation)
     */
    Start start(GenerationRequest request);
}
