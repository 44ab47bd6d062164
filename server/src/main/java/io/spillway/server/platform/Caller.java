package io.spillway.server.platform;

import io.spillway.server.platform.keys.ApiKey;
import java.util.Optional;

/**
 * Who sent a request: a key from the key store (with its policy), a static key from
 * {@code server.api-keys}, or nobody (an open server).
 *
 * @param keyId  the store key's id, "static:" and a hash prefix for a static key, or "anonymous"
 * @param tenant the key's tenant ("default" for static keys and anonymous callers)
 */
public record Caller(String keyId, String tenant, Optional<ApiKey> key) {

    public static final Caller ANONYMOUS = new Caller("anonymous", "default", Optional.empty());
}
