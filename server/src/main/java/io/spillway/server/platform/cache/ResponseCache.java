package io.spillway.server.platform.cache;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.time.Duration;
import java.util.Optional;

/**
 * Exact-match cache of deterministic completions: bounded by an estimate of the bytes it holds
 * (Caffeine's size-aware W-TinyLFU eviction, which keeps frequently repeated answers over one-offs)
 * and by a time to live.
 */
public final class ResponseCache {

    private final Cache<String, ObjectNode> cache;

    public ResponseCache(long maxBytes, Duration ttl) {
        this.cache = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((String k, ObjectNode v) -> k.length() * 2 + estimateBytes(v))
                .expireAfterWrite(ttl)
                .build();
    }

    private static int estimateBytes(ObjectNode body) {
        // Java strings of mostly ASCII text cost about two bytes per character with their overhead.
        return 256 + body.toString().length() * 2;
    }

    public Optional<ObjectNode> get(String key) {
        return Optional.ofNullable(cache.getIfPresent(key));
    }

    public void put(String key, ObjectNode body) {
        cache.put(key, body);
    }
}
