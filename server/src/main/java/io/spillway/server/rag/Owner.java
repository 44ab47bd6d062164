package io.spillway.server.rag;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Who owns a collection: the API key that created it, known only by a hash (the key itself is
 * never written to disk). Without API keys configured every caller is the same anonymous owner.
 */
public record Owner(String id) {

    public static final Owner ANONYMOUS = new Owner("anonymous");

    public static Owner ofApiKey(String key) {
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(("spillway-owner:" + key).getBytes(StandardCharsets.UTF_8));
            return new Owner("key-" + HexFormat.of().formatHex(hash, 0, 16));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
