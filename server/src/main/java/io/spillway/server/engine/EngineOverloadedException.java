package io.spillway.server.engine;

/** Admission control refused a request: the waiting queue is full. Retry after the given time. */
public final class EngineOverloadedException extends RuntimeException {

    private final double retryAfterSeconds;
    private final boolean queueWaitExceeded;

    public EngineOverloadedException(String message, double retryAfterSeconds) {
        this(message, retryAfterSeconds, false);
    }

    public EngineOverloadedException(String message, double retryAfterSeconds, boolean queueWaitExceeded) {
        super(message);
        this.retryAfterSeconds = retryAfterSeconds;
        this.queueWaitExceeded = queueWaitExceeded;
    }

    /** Refused because the request's own queue-wait limit would be exceeded, not because the queue is full. */
    public boolean queueWaitExceeded() {
        return queueWaitExceeded;
    }

    public double retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
