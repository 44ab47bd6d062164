package io.spillway.server.http;

import java.util.Optional;
import java.util.function.Function;

/** Answers requests. */
public interface Router {

    /** Called on a worker thread, never on an event loop; it may answer later. */
    void handle(Exchange exchange);

    /**
     * The answer to a request that can be refused from its head alone (a missing or wrong key),
     * so a client expecting {@code 100 Continue} is not asked for a body it would send in vain.
     * Called on the event loop, only for requests that expect 100-continue: keep it quick (a key
     * lookup that the key store caches).
     *
     * @param header the request's headers by name
     */
    default Optional<HttpError> refuseBeforeBody(String method, String path, Function<String, String> header) {
        return Optional.empty();
    }
}
