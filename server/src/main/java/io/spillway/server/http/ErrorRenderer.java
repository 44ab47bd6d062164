package io.spillway.server.http;

/** Writes the body of an {@link HttpError} in the API's own error shape (JSON). */
@FunctionalInterface
public interface ErrorRenderer {

    byte[] render(HttpError error);
}
