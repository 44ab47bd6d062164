package io.spillway.server.store;

import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * One collection as the API uses it, whichever store keeps it. Every write is acknowledged with
 * the sequence number it was committed at; reads come from this process's HNSW index, which has
 * applied the collection's writes up to {@link #appliedSeq()}.
 */
public interface StoredCollection {

    /** What a delete removed, and the sequence number it was committed at (0 when it removed nothing). */
    record Deleted(int count, long seq) {
    }

    String name();

    CollectionSpec spec();

    /** Live records in this process's index. */
    int size();

    /** The last write this process's index holds: every write up to it, none after it is missing. */
    long appliedSeq();

    /** Inserts or replaces records, all or nothing; returns the write's sequence number. */
    long upsert(List<VectorRecord> records) throws IOException;

    Deleted delete(Collection<String> ids) throws IOException;

    /**
     * A document's chunks ({@link #chunkId} ids), replacing whatever chunks it had: chunks beyond
     * the new count are deleted. Returns the sequence number by which all of it is committed.
     */
    long putDocument(String documentId, List<VectorRecord> chunks) throws IOException;

    /** Deletes a document's chunks. */
    Deleted deleteDocument(String documentId) throws IOException;

    Optional<VectorRecord> get(String id);

    List<SearchHit> query(float[] vector, int k, int ef, Filter filter);

    /**
     * Waits until this process's index has applied {@code seq}, for at most {@code timeout}; true
     * once it has.
     */
    boolean awaitApplied(long seq, Duration timeout) throws InterruptedException, IOException;

    /** The id of a document's chunk: documents are stored as their chunks. */
    static String chunkId(String documentId, int index) {
        return documentId + "#" + index;
    }
}
