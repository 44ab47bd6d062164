package io.spillway.server.platform.cache;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** Identical requests in flight, by cache key: the first leads and runs; the others follow its response. */
public final class InFlightRequests {

    private final ConcurrentMap<String, SharedResponse> running = new ConcurrentHashMap<>();

    /** The response to follow, or null when the caller leads (and must {@link #finish} it). */
    public SharedResponse joinOrLead(String key, SharedResponse mine) {
        return running.putIfAbsent(key, mine);
    }

    public void finish(String key, SharedResponse mine) {
        running.remove(key, mine);
    }
}
