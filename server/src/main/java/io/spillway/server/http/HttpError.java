package io.spillway.server.http;

/**
 * An answer the HTTP layer gives on its own, before or instead of a handler: a request that was
 * malformed, too slow, too large, or arrived while the server shuts down, or a handler that failed.
 *
 * @param code a short machine-readable name (request_timeout, request_too_large, ...)
 */
public record HttpError(int status, String code, String message, int retryAfterSeconds) {

    static HttpError of(int status, String code, String message) {
        return new HttpError(status, code, message, 0);
    }
}
