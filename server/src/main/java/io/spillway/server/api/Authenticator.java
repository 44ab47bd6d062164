package io.spillway.server.api;

import io.spillway.server.generation.Caller;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.http.Exchange;
import io.spillway.server.platform.keys.ApiKey;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.platform.keys.Sha256;
import io.spillway.server.wire.OpenAiException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;

/**
 * Who sent a request, from its bearer key: a key from the key store (with its policy), or one of
 * {@code server.api-keys}. Keys are required once either kind exists; otherwise the API is open
 * and every caller is {@link Caller#ANONYMOUS}. Everything derived from the key (its owner id,
 * its prefix-cache salt) is derived here, once.
 */
final class Authenticator {

    private final List<String> staticKeys;
    private final Optional<KeyStore> store;

    Authenticator(List<String> staticKeys, Optional<KeyStore> store) {
        this.staticKeys = List.copyOf(staticKeys);
        this.store = store;
    }

    /** What is enforced now, for the start-up log. */
    String enforced() {
        boolean stored = store.map(KeyStore::anyActive).orElse(false);
        if (staticKeys.isEmpty() && !stored) {
            return "no API keys: open to anyone who can reach it";
        }
        if (staticKeys.isEmpty()) {
            return "API keys required: the key store's";
        }
        return stored ? "API keys required: server.api-keys and the key store's" : "API keys required: server.api-keys";
    }

    Caller authenticate(Exchange ex) {
        return authenticate(ex.header("Authorization"));
    }

    /** @param header the request's Authorization header, or null */
    Caller authenticate(String header) {
        boolean storeKeys = store.map(KeyStore::anyActive).orElse(false);
        if (staticKeys.isEmpty() && !storeKeys) {
            return Caller.ANONYMOUS;
        }
        if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw OpenAiException.unauthorized("You didn't provide an API key. You need to provide your API key in an Authorization"
                    + " header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        }
        String key = header.substring(7).strip();
        // Keeps callers' prefix caches apart without the key itself ever reaching the engine.
        String salt = Sha256.hex(header).substring(0, 32);
        Optional<ApiKey> stored = store.flatMap(k -> k.authenticate(key));
        if (stored.isPresent()) {
            return new Caller(stored.get().id(), stored.get().tenant(), owner(key), salt, true, stored.get().policy());
        }
        boolean ok = false;
        for (String candidate : staticKeys) {
            ok |= MessageDigest.isEqual(candidate.getBytes(StandardCharsets.UTF_8), key.getBytes(StandardCharsets.UTF_8));
        }
        if (!ok) {
            throw OpenAiException.unauthorized("Incorrect API key provided.");
        }
        return new Caller("static:" + Sha256.hex(key).substring(0, 12), "default", owner(key), salt, false, KeyPolicy.DEFAULT);
    }

    /** The first 16 bytes of a hash of the key: the directory names of existing collections depend on it. */
    private static String owner(String key) {
        return "key-" + Sha256.hex("spillway-owner:" + key).substring(0, 32);
    }
}
