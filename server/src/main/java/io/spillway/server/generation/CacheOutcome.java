package io.spillway.server.generation;

import java.util.Locale;

/** How the caches took part in an answer. */
public enum CacheOutcome {
    /** The request could not be cached (not deterministic, or caching is off). */
    BYPASS,
    /** Looked up, not found: generated, and stored if it completes. */
    MISS,
    /** The exact cache's stored answer. */
    HIT,
    /** The stored answer of a near-identical prompt. */
    SEMANTIC,
    /** An identical request in flight shared its answer. */
    DEDUP;

    /** The x-spillway-cache header's value: hit, semantic or miss. */
    public String header() {
        return switch (this) {
            case HIT, DEDUP -> "hit";
            case SEMANTIC -> "semantic";
            case MISS, BYPASS -> "miss";
        };
    }

    /** As metrics and the audit log name it. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Whether the answer was reused rather than generated (and so costs nothing). */
    public boolean reused() {
        return this == HIT || this == SEMANTIC || this == DEDUP;
    }
}
