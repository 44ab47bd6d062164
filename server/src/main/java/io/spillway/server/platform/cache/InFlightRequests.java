package io.spillway.server.platform.cache;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/** Identical requests in flight, by cache key: the first leads and runs; the others follow its answer. */
final class InFlightRequests {

    private final ConcurrentMap<String, SharedGeneration> running = new ConcurrentHashMap<>();

    /** The answer to follow, or null when the caller leads (and must {@link #finish} it). */
    SharedGeneration joinOrLead(String key, SharedGeneration mine) {
        return running.putIfAbsent(key, mine);
    }

    void finish(String key, SharedGeneration mine) {
        running.remove(key, mine);
    }
}
