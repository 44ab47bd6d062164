package io.spillway.server.store;

import io.spillway.vectors.CollectionSpec;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Where collections live, by owner and name: {@link EmbeddedCatalog} keeps them in files on this
 * box, {@link SharedCatalog} in PostgreSQL, with every replica following the same change log.
 * An owner sees only its own collections.
 */
public interface CollectionCatalog extends AutoCloseable {

    /** @throws IllegalStateException when the owner already has a collection of that name */
    StoredCollection create(String owner, String name, CollectionSpec spec) throws IOException;

    Optional<StoredCollection> get(String owner, String name) throws IOException;

    List<String> names(String owner) throws IOException;

    boolean drop(String owner, String name) throws IOException;

    @Override
    void close() throws IOException;
}
