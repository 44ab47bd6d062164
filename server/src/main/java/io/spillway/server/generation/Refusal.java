package io.spillway.server.generation;

/**
 * Why a generator would not take a request now, though it might later or elsewhere: the request
 * itself is fine. A stage that can send it elsewhere (the spill policy) does; otherwise it becomes a
 * 503 with Retry-After.
 */
public sealed interface Refusal {

    /** What the generator said, for the error message. */
    String detail();

    double retryAfterSeconds();

    /** The waiting queue is full. */
    record QueueFull(String detail, double retryAfterSeconds) implements Refusal {
    }

    /** The expected wait for a first token is longer than the request may wait. */
    record WaitTooLong(String detail, double retryAfterSeconds) implements Refusal {
    }

    /** The request waited in the queue, unstarted, until its wait limit passed, and was withdrawn. */
    record DeadlinePassed(String detail, double retryAfterSeconds) implements Refusal {
    }

    /** The generator cannot serve at all until it is restarted (its device failed): another replica can. */
    record Unavailable(String detail, double retryAfterSeconds) implements Refusal {
    }
}
