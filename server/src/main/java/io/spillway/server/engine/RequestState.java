package io.spillway.server.engine;

import java.util.ArrayList;
import java.util.List;

/** A request in flight: its samples, its output stream, and what it has cost so far. */
final class RequestState {

    final EngineRequest request;
    final RequestStream stream;
    final long arrivalNanos;
    final long deadlineNanos;
    final List<Sequence> sequences = new ArrayList<>();
    /** n &gt; 1: the other samples are forked from the first once its prompt is computed. */
    boolean forkPending;
    int finishedSequences;
    /** Prompt tokens served from the prefix cache; -1 until the first sample is scheduled. */
    int cachedPromptTokens = -1;
    /** Whether the request stopped counting against the waiting-queue bounds. */
    boolean admissionReleased;
    long firstTokenNanos;
    /** The queue wait predicted at admission, to learn how far off predictions run. */
    double predictedWaitSeconds;
    /**
     * Its reader is not keeping up: it is not scheduled (its sequences keep their KV blocks) until
     * released, so the output waiting for a slow client stays bounded.
     */
    boolean held;

    RequestState(EngineRequest request, RequestStream stream, long arrivalNanos, long deadlineNanos) {
        this.request = request;
        this.stream = stream;
        this.arrivalNanos = arrivalNanos;
        this.deadlineNanos = deadlineNanos;
        this.forkPending = request.params().n() > 1;
    }

    /** When the request's queue-wait limit passes (meaningful only when it has one). */
    long queueLimitNanos() {
        return arrivalNanos + (long) (request.maxQueueWaitSeconds() * 1e9);
    }

    String id() {
        return request.id();
    }

    boolean done() {
        return finishedSequences == request.params().n() && !forkPending;
    }

    int completionTokens() {
        int n = 0;
        for (Sequence s : sequences) {
            n += s.generated();
        }
        return n;
    }
}
