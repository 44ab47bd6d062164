package io.spillway.server.engine;

/** Admission control refused a request: the waiting queue is full. Retry after the given time. */
public final class EngineOverloadedException extends RuntimeException {

    private final double retryAfterSeconds;

    public EngineOverloadedException(String message, double retryAfterSeconds) {
        super(message);
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public double retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
