package io.spillway.server.store;

/**
 * The shared store cannot be reached (PostgreSQL down, restarting, or out of connections): the
 * operation did not happen and may be retried. The API answers 503 with Retry-After.
 */
public final class StoreUnavailableException extends RuntimeException {

    public StoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
