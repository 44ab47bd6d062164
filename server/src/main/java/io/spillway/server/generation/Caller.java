package io.spillway.server.generation;

/**
 * Who sent a request, as every stage sees it.
 *
 * @param keyId     the stored key's id, "static:" and a hash prefix for a static key, or "anonymous"
 * @param tenant    the key's tenant ("default" for static keys and anonymous callers)
 * @param owner     whose retrieval collections the caller sees (a hash of its key, never the key)
 * @param cacheSalt keeps callers' prefix caches apart ("" shares with everyone)
 * @param stored    the key is one of the key store's (its limits and budget apply)
 */
public record Caller(String keyId, String tenant, String owner, String cacheSalt, boolean stored, KeyPolicy policy) {

    /** Anyone, on a server without keys. */
    public static final Caller ANONYMOUS = new Caller("anonymous", "default", "anonymous", "", false, KeyPolicy.DEFAULT);

    /** The scope of this caller's cached answers. */
    public String cacheScope() {
        return tenant + "/" + keyId;
    }
}
