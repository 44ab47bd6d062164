package io.spillway.server.platform.cache;

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

    private final Cache<String, StoredCompletion> cache;

    public ResponseCache(long maxBytes, Duration ttl) {
        this.cache = Caffeine.newBuilder()
                .maximumWeight(maxBytes)
                .weigher((String k, StoredCompletion v) -> k.length() * 2 + v.estimatedBytes())
                .expireAfterWrite(ttl)
                .build();
    }

    public Optional<StoredCompletion> get(String key) {
        return Optional.ofNullable(cache.getIfPresent(key));
    }

    public void put(String key, StoredCompletion body) {
        cache.put(key, body);
    }
}
