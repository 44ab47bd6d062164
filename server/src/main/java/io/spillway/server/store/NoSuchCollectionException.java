package io.spillway.server.store;

/** The collection was dropped (by another replica, or concurrently): the API answers 404. */
public final class NoSuchCollectionException extends RuntimeException {

    public NoSuchCollectionException(String name) {
        super("Collection '" + name + "' does not exist.");
    }
}
