package io.spillway.models.kv;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The identity of a full KV block's contents: a hash of its parent block's hash and its tokens,
 * so equal hashes mean equal whole prefixes. SHA-256 (first 128 bits): a collision would hand one
 * request another's keys and values, so a fast non-cryptographic hash is not good enough when
 * prompts come from many users.
 */
public record BlockHash(long high, long low) {

    /** The root of every chain: a salt keeps caches of different tenants apart ("" shares). */
    public static BlockHash root(String salt) {
        MessageDigest sha = sha256();
        sha.update("spillway-kv-root".getBytes(StandardCharsets.UTF_8));
        sha.update(salt.getBytes(StandardCharsets.UTF_8));
        return of(sha.digest());
    }

    /** The hash of a block holding {@code tokens[from, from + count)} after {@code parent}. */
    public static BlockHash of(BlockHash parent, int[] tokens, int from, int count) {
        ByteBuffer bytes = ByteBuffer.allocate(16 + 4 * count);
        bytes.putLong(parent.high).putLong(parent.low);
        for (int i = 0; i < count; i++) {
            bytes.putInt(tokens[from + i]);
        }
        MessageDigest sha = sha256();
        sha.update(bytes.array());
        return of(sha.digest());
    }

    private static BlockHash of(byte[] digest) {
        ByteBuffer b = ByteBuffer.wrap(digest);
        return new BlockHash(b.getLong(), b.getLong());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK provides SHA-256", e);
        }
    }
}
