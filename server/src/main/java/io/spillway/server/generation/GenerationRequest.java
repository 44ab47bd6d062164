package io.spillway.server.generation;

import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletionRequest;
import io.spillway.server.wire.GenerationBody;
import java.util.Optional;

/**
 * A validated request to generate, with who sent it and when it arrived.
 *
 * @param id                  the request's id (x-request-id), for logs and the audit trail
 * @param arrivalNanos        when it had been read in full ({@link System#nanoTime()}): the start of its time to first token
 * @param maxQueueWaitSeconds refuse, or withdraw from the queue, a request whose first token would come later
 *                            than this (0: no limit); set by a stage that can send it elsewhere
 */
public record GenerationRequest(String id, Caller caller, GenerationBody body, long arrivalNanos, double maxQueueWaitSeconds) {

    public GenerationRequest(String id, Caller caller, GenerationBody body, long arrivalNanos) {
        this(id, caller, body, arrivalNanos, 0);
    }

    public GenerationRequest withBody(GenerationBody replaced) {
        return new GenerationRequest(id, caller, replaced, arrivalNanos, maxQueueWaitSeconds);
    }

    public GenerationRequest withMaxQueueWait(double seconds) {
        return new GenerationRequest(id, caller, body, arrivalNanos, seconds);
    }

    public String model() {
        return body.model();
    }

    public Optional<ChatRequest> chat() {
        return body instanceof ChatRequest c ? Optional.of(c) : Optional.empty();
    }

    public Optional<CompletionRequest> completion() {
        return body instanceof CompletionRequest c ? Optional.of(c) : Optional.empty();
    }
}
