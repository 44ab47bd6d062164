package io.spillway.server.store;

import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.CollectionStore;
import io.spillway.vectors.Filter;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Collections in files on this box (one replica): a directory per owner, so one owner's names never
 * collide with, or reveal, another's; each collection durable through its own write-ahead log and
 * snapshots. Sequence numbers are the collection's own log's.
 */
public final class EmbeddedCatalog implements CollectionCatalog {

    private final Path root;
    private final StorageOptions storage;
    private final Map<String, CollectionStore> stores = new ConcurrentHashMap<>();

    public EmbeddedCatalog(Path root, StorageOptions storage) {
        this.root = root;
        this.storage = storage;
    }

    public Path root() {
        return root;
    }

    private CollectionStore store(String owner) {
        return stores.computeIfAbsent(owner, o -> new CollectionStore(root.resolve(o), storage));
    }

    @Override
    public StoredCollection create(String owner, String name, CollectionSpec spec) throws IOException {
        return new Local(name, store(owner).create(name, spec));
    }

    @Override
    public Optional<StoredCollection> get(String owner, String name) throws IOException {
        return store(owner).get(name).map(c -> new Local(name, c));
    }

    @Override
    public List<String> names(String owner) throws IOException {
        return store(owner).names();
    }

    @Override
    public boolean drop(String owner, String name) throws IOException {
        return store(owner).drop(name);
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (CollectionStore s : stores.values()) {
            try {
                s.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        stores.clear();
        if (first != null) {
            throw first;
        }
    }

    /** A collection of this box: writes are applied as they are logged, so a write's seq is applied on return. */
    private record Local(String name, VectorCollection c) implements StoredCollection {

        @Override
        public CollectionSpec spec() {
            return c.spec();
        }

        @Override
        public int size() {
            return c.size();
        }

        @Override
        public long appliedSeq() {
            return c.lastSeq();
        }

        @Override
        public long upsert(List<VectorRecord> records) throws IOException {
            c.upsert(records);
            return c.lastSeq();
        }

        @Override
        public Deleted delete(Collection<String> ids) throws IOException {
            int n = c.delete(ids);
            return new Deleted(n, n == 0 ? 0 : c.lastSeq());
        }

        @Override
        public long putDocument(String documentId, List<VectorRecord> chunks) throws IOException {
            c.upsert(chunks);
            deleteChunksFrom(documentId, chunks.size());
            return c.lastSeq();
        }

        @Override
        public Deleted deleteDocument(String documentId) throws IOException {
            int n = deleteChunksFrom(documentId, 0);
            return new Deleted(n, n == 0 ? 0 : c.lastSeq());
        }

        /** A document's chunks are numbered from 0 without gaps: those from {@code from} on go. */
        private int deleteChunksFrom(String documentId, int from) throws IOException {
            List<String> doomed = new ArrayList<>();
            for (int i = from; c.get(StoredCollection.chunkId(documentId, i)).isPresent(); i++) {
                doomed.add(StoredCollection.chunkId(documentId, i));
            }
            return c.delete(doomed);
        }

        @Override
        public Optional<VectorRecord> get(String id) {
            return c.get(id);
        }

        @Override
        public List<SearchHit> query(float[] vector, int k, int ef, Filter filter) {
            return c.query(vector, k, ef, filter);
        }

        @Override
        public boolean awaitApplied(long seq, Duration timeout) {
            // One process writes and reads: a sequence number not applied yet was never acknowledged here.
            return c.lastSeq() >= seq;
        }
    }
}
