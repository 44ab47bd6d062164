package io.spillway.server.rag;

/**
 * Who owns a collection: the API key that created it, known only by a hash (the key itself is
 * never written to disk), or, without API keys, one anonymous owner. The id names the owner's
 * directory of collections.
 */
public record Owner(String id) {

    public static final Owner ANONYMOUS = new Owner("anonymous");
}
