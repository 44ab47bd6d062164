package io.spillway.server.http;

/** Answers requests. Called on a worker thread, never on an event loop; it may answer later. */
@FunctionalInterface
public interface Router {
    void handle(Exchange exchange);
}
