package io.spillway.server.rag;

import io.spillway.server.platform.Sha256;

/**
 * Who owns a collection: the API key that created it, known only by a hash (the key itself is
 * never written to disk). Without API keys configured every caller is the same anonymous owner.
 */
public record Owner(String id) {

    public static final Owner ANONYMOUS = new Owner("anonymous");

    public static Owner ofApiKey(String key) {
        // The first 16 bytes of the hash: the directory names of existing collections depend on it.
        return new Owner("key-" + Sha256.hex("spillway-owner:" + key).substring(0, 32));
    }
}
