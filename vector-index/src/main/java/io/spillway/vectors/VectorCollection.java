package io.spillway.vectors;

import com.github.jelmerk.hnswlib.core.SearchResult;
import com.github.jelmerk.hnswlib.core.hnsw.HnswIndex;
import com.github.jelmerk.hnswlib.core.hnsw.SizeLimitExceededException;
import io.spillway.vectors.storage.Durable;
import io.spillway.vectors.storage.OwnerOnly;
import io.spillway.vectors.storage.RecordCodec;
import io.spillway.vectors.storage.SnapshotFile;
import io.spillway.vectors.storage.WriteAheadLog;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A named set of vectors with metadata: an HNSW graph in memory, made durable by a write-ahead
 * log and periodic snapshots in its own directory.
 *
 * <p>Writes are serialized: each is validated, appended to the log (and synced, by default),
 * then applied to the graph, and only then acknowledged by returning. Queries never take the
 * write lock; the graph is safe for concurrent readers and a writer.
 */
public final class VectorCollection implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(VectorCollection.class);
    private static final String SPEC_FILE = "collection.properties";
    private static final byte UPSERT = 1;
    private static final byte DELETE = 2;
    /** Upserts and deletes of one write made elsewhere, applied at the sequence number it was given there. */
    private static final byte CHANGE = 3;
    private static final int INITIAL_CAPACITY = 1024;
    /** Batches from this size on are inserted in parallel. */
    private static final int PARALLEL_BATCH = 64;

    private final Path dir;
    private final CollectionSpec spec;
    private final StorageOptions options;
    private final ReentrantLock writeLock = new ReentrantLock();
    private final AtomicBoolean snapshotting = new AtomicBoolean();
    /**
     * hnswlib-core's resize swaps the pool of visited-sets that searches borrow from; a search
     * running across the swap returns its set to the wrong pool and later searches starve. Searches
     * hold this shared, a resize holds it exclusively.
     */
    private final ReentrantReadWriteLock resizeLock = new ReentrantReadWriteLock();
    private volatile HnswIndex<String, float[], StoredItem, Float> index;
    private WriteAheadLog wal;
    /** Written under the write lock; volatile so that readers can say what a query saw. */
    private volatile long lastSeq;
    /** The sequence number the newest snapshot holds; guarded by the write lock. */
    private long snapshotSeq;
    private boolean closed;

    private VectorCollection(Path dir, CollectionSpec spec, StorageOptions options) {
        this.dir = dir;
        this.spec = spec;
        this.options = options;
    }

    /** Creates an empty collection in {@code dir}, which must not exist yet. */
    public static VectorCollection create(Path dir, CollectionSpec spec, StorageOptions options) throws IOException {
        Path tmp = dir.resolveSibling(dir.getFileName() + ".creating");
        deleteTree(tmp);
        OwnerOnly.createDirectories(tmp);
        Properties p = new Properties();
        p.setProperty("dimension", Integer.toString(spec.dimension()));
        p.setProperty("metric", spec.metric().wireName());
        p.setProperty("m", Integer.toString(spec.m()));
        p.setProperty("ef_construction", Integer.toString(spec.efConstruction()));
        p.setProperty("ef", Integer.toString(spec.ef()));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        p.store(bytes, "Spillway vector collection");
        Durable.writeAtomically(tmp.resolve(SPEC_FILE), bytes.toByteArray());
        // The directory appears under its real name only once complete.
        Files.move(tmp, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        Durable.syncDirectory(dir.getParent());
        return open(dir, options);
    }

    /** Opens a collection: loads its newest snapshot, then replays the log after it. */
    public static VectorCollection open(Path dir, StorageOptions options) throws IOException {
        CollectionSpec spec = readSpec(dir);
        VectorCollection c = new VectorCollection(dir, spec, options);
        long start = System.nanoTime();
        Optional<SnapshotFile.Loaded<HnswIndex<String, float[], StoredItem, Float>>> snapshot =
                SnapshotFile.readLatest(dir, VectorCollection::loadGraph);
        long snapshotSeq = snapshot.map(SnapshotFile.Loaded::seq).orElse(0L);
        c.index = snapshot.map(SnapshotFile.Loaded::value).orElseGet(() -> c.newGraph(INITIAL_CAPACITY));
        c.lastSeq = snapshotSeq;
        c.snapshotSeq = snapshotSeq;
        long[] replayed = new long[1];
        c.wal = WriteAheadLog.openAndReplay(dir, snapshotSeq + 1, options.fsync(), payload -> {
            if (c.applyLogged(payload, snapshotSeq)) {
                replayed[0]++;
            }
        });
        LOG.info("collection {}: {} vectors ({} from the snapshot at seq {}, {} log records replayed) in {} ms",
                dir.getFileName(), c.index.size(), snapshot.isPresent() ? "loaded" : "none", snapshotSeq, replayed[0],
                (System.nanoTime() - start) / 1_000_000);
        return c;
    }

    private static CollectionSpec readSpec(Path dir) throws IOException {
        Path file = dir.resolve(SPEC_FILE);
        if (!Files.isRegularFile(file)) {
            throw new IOException(dir + " is not a vector collection (no " + SPEC_FILE + ")");
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            p.load(in);
        }
        try {
            return new CollectionSpec(Integer.parseInt(p.getProperty("dimension")), Metric.parse(p.getProperty("metric")),
                    Integer.parseInt(p.getProperty("m")), Integer.parseInt(p.getProperty("ef_construction")),
                    Integer.parseInt(p.getProperty("ef")));
        } catch (RuntimeException e) {
            throw new IOException("collection spec " + file + " is unreadable: " + e.getMessage(), e);
        }
    }

    private HnswIndex<String, float[], StoredItem, Float> newGraph(int capacity) {
        return HnswIndex.newBuilder(spec.dimension(), Distances.forMetric(spec.metric()), capacity)
                .withM(spec.m())
                .withEfConstruction(spec.efConstruction())
                // The query's own candidate count is passed as k (the graph searches max(ef, k)),
                // so the index-wide ef stays at its minimum and ef can vary per query without
                // shared mutable state.
                .withEf(1)
                .withRemoveEnabled()
                .withCustomSerializers(new ItemSerializers.Ids(), new ItemSerializers.Items(spec.dimension()))
                .build();
    }

    @SuppressWarnings("unchecked")
    private static HnswIndex<String, float[], StoredItem, Float> loadGraph(InputStream in) throws IOException {
        return HnswIndex.load(in, VectorCollection.class.getClassLoader());
    }

    public CollectionSpec spec() {
        return spec;
    }

    public int size() {
        return index.size();
    }

    /** The sequence number of the last write applied (0 for a new collection). */
    public long lastSeq() {
        return lastSeq;
    }

    /**
     * Records as this collection stores them: their dimension checked and their vectors prepared for
     * the metric (normalized for cosine, bounded otherwise). A store that keeps records elsewhere
     * first (a shared database) prepares them with this before committing, so that what it commits
     * is exactly what every replica's graph will hold and can never be refused there.
     */
    public static List<VectorRecord> prepare(CollectionSpec spec, List<VectorRecord> records) {
        List<VectorRecord> prepared = new ArrayList<>(records.size());
        for (VectorRecord r : records) {
            if (r.vector().length != spec.dimension()) {
                throw new IllegalArgumentException("record '" + r.id() + "' has " + r.vector().length
                        + " dimensions; the collection has " + spec.dimension());
            }
            try {
                prepared.add(new VectorRecord(r.id(), spec.metric().prepare(r.vector()), r.metadata()));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("record '" + r.id() + "': " + e.getMessage(), e);
            }
        }
        return prepared;
    }

    /** Inserts or replaces records; returns once they are durable. All or nothing. */
    public void upsert(List<VectorRecord> records) throws IOException {
        if (records.isEmpty()) {
            return;
        }
        List<VectorRecord> prepared = prepare(spec, records);
        write(0, UPSERT, out -> {
            out.writeInt(prepared.size());
            for (VectorRecord r : prepared) {
                RecordCodec.write(out, r);
            }
        }, seq -> addAll(prepared, seq));
    }

    /**
     * Adds a batch. Large batches are inserted by one thread per core: hnswlib-core's graph takes
     * concurrent inserts (it locks per node), and an insert is almost all distance computations.
     * Within a batch the last record of an id wins, as it would inserted one by one.
     */
    private void addAll(List<VectorRecord> records, long seq) {
        int threads = Runtime.getRuntime().availableProcessors();
        if (records.size() < PARALLEL_BATCH || threads == 1) {
            records.forEach(r -> add(new StoredItem(r, seq)));
            return;
        }
        Map<String, VectorRecord> lastById = new LinkedHashMap<>();
        records.forEach(r -> lastById.put(r.id(), r));
        List<StoredItem> items = lastById.values().stream().map(r -> new StoredItem(r, seq)).toList();
        if (index.size() + items.size() > index.getMaxItemCount()) {
            resize(Math.max(index.getMaxItemCount() * 2, index.size() + items.size() + INITIAL_CAPACITY));
        }
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        java.util.Queue<StoredItem> overflow = new java.util.concurrent.ConcurrentLinkedQueue<>();
        java.util.concurrent.atomic.AtomicReference<RuntimeException> failure = new java.util.concurrent.atomic.AtomicReference<>();
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            workers[t] = Thread.ofPlatform().name("insert-" + dir.getFileName() + "-" + t).start(() -> {
                for (int i; (i = next.getAndIncrement()) < items.size(); ) {
                    try {
                        index.add(items.get(i));
                    } catch (SizeLimitExceededException e) {
                        // Replaced and deleted vectors keep their slots: the estimate above can fall
                        // short. These go in one by one below, growing the graph as needed.
                        overflow.add(items.get(i));
                    } catch (RuntimeException e) {
                        failure.compareAndSet(null, e);
                    }
                }
            });
        }
        for (Thread w : workers) {
            try {
                w.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while inserting a logged batch", e);
            }
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        overflow.forEach(this::add);
    }

    private void resize(int capacity) {
        resizeLock.writeLock().lock();
        try {
            index.resize(capacity);
        } finally {
            resizeLock.writeLock().unlock();
        }
    }

    /** Deletes records by id; returns how many existed. Durable on return. */
    public int delete(Collection<String> ids) throws IOException {
        if (ids.isEmpty()) {
            return 0;
        }
        int[] removed = new int[1];
        write(0, DELETE, out -> {
            out.writeInt(ids.size());
            for (String id : ids) {
                RecordCodec.writeString(out, id);
            }
        }, seq -> ids.forEach(id -> removed[0] += index.remove(id, seq) ? 1 : 0));
        return removed[0];
    }

    private interface Body {
        void write(DataOutputStream out) throws IOException;
    }

    private interface Apply {
        void apply(long seq);
    }

    /**
     * Applies one write made elsewhere at the sequence number it was given there: {@code upserts}
     * (already {@link #prepare prepared}) then {@code deletes}, as one logged record. Writes must
     * come in order, without gaps: a replica following a shared log applies each exactly once.
     *
     * @throws IllegalStateException when {@code seq} is not the next sequence number
     */
    public void applyAt(long seq, List<VectorRecord> upserts, Collection<String> deletes) throws IOException {
        for (VectorRecord r : upserts) {
            if (r.vector().length != spec.dimension()) {
                throw new IllegalArgumentException("record '" + r.id() + "' has " + r.vector().length
                        + " dimensions; the collection has " + spec.dimension());
            }
        }
        write(seq, CHANGE, out -> {
            out.writeInt(upserts.size());
            for (VectorRecord r : upserts) {
                RecordCodec.write(out, r);
            }
            out.writeInt(deletes.size());
            for (String id : deletes) {
                RecordCodec.writeString(out, id);
            }
        }, s -> applyChange(upserts, deletes, s));
    }

    private void applyChange(List<VectorRecord> upserts, Collection<String> deletes, long seq) {
        addAll(upserts, seq);
        deletes.forEach(id -> index.remove(id, seq));
    }

    /**
     * Fills a new, empty collection with records already {@link #prepare prepared} (a replica
     * rebuilding from a shared store's tables, or a copy between stores), as of {@code seq}, and
     * snapshots it: it then opens at {@code seq} without replaying anything.
     */
    public void load(java.util.Iterator<List<VectorRecord>> batches, long seq) throws IOException {
        writeLock.lock();
        try {
            if (closed || lastSeq != 0 || index.size() != 0) {
                throw new IllegalStateException("collection " + dir.getFileName() + " can only be loaded while new and empty");
            }
            while (batches.hasNext()) {
                List<VectorRecord> batch = batches.next();
                for (VectorRecord r : batch) {
                    if (r.vector().length != spec.dimension()) {
                        throw new IllegalArgumentException("record '" + r.id() + "' has " + r.vector().length
                                + " dimensions; the collection has " + spec.dimension());
                    }
                }
                addAll(batch, seq);
            }
            lastSeq = seq;
        } finally {
            writeLock.unlock();
        }
        snapshot();
    }

    private void write(long givenSeq, byte op, Body body, Apply apply) throws IOException {
        writeLock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("collection " + dir.getFileName() + " is closed");
            }
            if (givenSeq != 0 && givenSeq != lastSeq + 1) {
                throw new IllegalStateException("collection " + dir.getFileName() + " is at seq " + lastSeq + " and cannot apply seq "
                        + givenSeq + " next");
            }
            long seq = lastSeq + 1;
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeLong(seq);
            out.writeByte(op);
            body.write(out);
            out.flush();
            wal.append(bytes.toByteArray());
            lastSeq = seq;
            apply.apply(seq);
        } finally {
            writeLock.unlock();
        }
        maybeSnapshotInBackground();
    }

    /** Applies one logged write during replay; false when the snapshot already holds it. */
    private boolean applyLogged(ByteBuffer payload, long snapshotSeq) {
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(payload.array(), payload.position(), payload.remaining()));
            long seq = in.readLong();
            byte op = in.readByte();
            if (seq <= snapshotSeq) {
                return false;
            }
            if (seq != lastSeq + 1) {
                throw new IOException("log jumps from seq " + lastSeq + " to " + seq);
            }
            int n = in.readInt();
            if (op == UPSERT) {
                List<VectorRecord> records = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    records.add(RecordCodec.read(in, spec.dimension()));
                }
                addAll(records, seq);
            } else if (op == DELETE) {
                for (int i = 0; i < n; i++) {
                    index.remove(RecordCodec.readString(in), seq);
                }
            } else if (op == CHANGE) {
                List<VectorRecord> upserts = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    upserts.add(RecordCodec.read(in, spec.dimension()));
                }
                int d = in.readInt();
                List<String> deletes = new ArrayList<>(d);
                for (int i = 0; i < d; i++) {
                    deletes.add(RecordCodec.readString(in));
                }
                applyChange(upserts, deletes, seq);
            } else {
                throw new IOException("unknown log operation " + op + " at seq " + seq);
            }
            lastSeq = seq;
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException("collection " + dir.getFileName() + ": unreadable log record: " + e.getMessage(), e);
        }
    }

    private void add(StoredItem item) {
        while (true) {
            try {
                index.add(item);
                return;
            } catch (SizeLimitExceededException e) {
                // Deleted and replaced vectors keep their slots in the graph, so capacity follows
                // what was ever inserted, not the live count.
                resize(Math.max(INITIAL_CAPACITY, index.getMaxItemCount() * 2));
            }
        }
    }

    public Optional<VectorRecord> get(String id) {
        return index.get(id).map(StoredItem::record);
    }

    /**
     * The {@code k} nearest records passing {@code filter}, best first. {@code ef} is the search's
     * candidate list (0 means the collection's default); filtered searches widen the candidate
     * list until k matches are found, and fall back to an exact scan when the filter is so
     * selective that widening reaches the whole collection.
     */
    public List<SearchHit> query(float[] vector, int k, int ef, Filter filter) {
        if (vector.length != spec.dimension()) {
            throw new IllegalArgumentException("query vector has " + vector.length + " dimensions; the collection has " + spec.dimension());
        }
        if (k < 1) {
            throw new IllegalArgumentException("k must be at least 1");
        }
        float[] q;
        try {
            q = spec.metric().prepare(vector);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("query " + e.getMessage(), e);
        }
        HnswIndex<String, float[], StoredItem, Float> graph = index;
        int live = graph.size();
        if (live == 0) {
            return List.of();
        }
        int candidates = Math.max(k, ef > 0 ? ef : spec.ef());
        while (true) {
            boolean exhaustive = candidates >= live;
            List<SearchResult<StoredItem, Float>> found;
            resizeLock.readLock().lock();
            try {
                found = exhaustive ? graph.asExactIndex().findNearest(q, live) : graph.findNearest(q, candidates);
            } finally {
                resizeLock.readLock().unlock();
            }
            List<SearchHit> hits = new ArrayList<>(k);
            for (SearchResult<StoredItem, Float> r : found) {
                VectorRecord rec = r.item().record();
                if (filter.matches(rec.metadata())) {
                    hits.add(new SearchHit(rec.id(), spec.metric().score(r.distance()), rec.metadata()));
                    if (hits.size() == k) {
                        return hits;
                    }
                }
            }
            if (exhaustive || filter.isEmpty()) {
                return hits;
            }
            candidates = (int) Math.min((long) candidates * 4, live);
        }
    }

    /** Every live record (for exports and tests); a consistent view only without concurrent writes. */
    public List<VectorRecord> records() {
        return index.items().stream().map(StoredItem::record).toList();
    }

    /**
     * Writes a snapshot of everything acknowledged so far and retires the log segments it covers.
     * Writers wait for it; queries do not.
     */
    public void snapshot() throws IOException {
        writeLock.lock();
        try {
            if (closed) {
                return;
            }
            long seq = lastSeq;
            long start = System.nanoTime();
            SnapshotFile.write(dir, seq, index::save);
            wal.rotate(seq + 1);
            wal.deleteSegmentsCoveredBy(seq);
            snapshotSeq = seq;
            LOG.info("collection {}: snapshot at seq {} ({} vectors) in {} ms", dir.getFileName(), seq, index.size(),
                    (System.nanoTime() - start) / 1_000_000);
        } finally {
            writeLock.unlock();
        }
    }

    /**
     * Snapshots when writes were applied since the newest snapshot. A replica does this as it stops,
     * so that it restarts from the snapshot and reads only what it missed from the shared log.
     */
    public void snapshotIfBehind() throws IOException {
        writeLock.lock();
        try {
            if (!closed && lastSeq > snapshotSeq) {
                snapshot();
            }
        } finally {
            writeLock.unlock();
        }
    }

    private void maybeSnapshotInBackground() {
        if (wal.segmentBytes() < options.snapshotAfterLogBytes() || !snapshotting.compareAndSet(false, true)) {
            return;
        }
        Thread.ofVirtual().name("snapshot-" + dir.getFileName()).start(() -> {
            try {
                snapshot();
            } catch (IOException | RuntimeException e) {
                // The log still holds every write: a failed snapshot costs replay time, not data.
                LOG.error("collection {}: snapshot failed; the write-ahead log keeps growing until one succeeds", dir.getFileName(), e);
            } finally {
                snapshotting.set(false);
            }
        });
    }

    @Override
    public void close() throws IOException {
        writeLock.lock();
        try {
            if (!closed) {
                closed = true;
                wal.close();
            }
        } finally {
            writeLock.unlock();
        }
    }

    /**
     * Closes the collection and removes its files. The directory is first renamed out of the way,
     * so a crash half-way through never leaves a half-deleted collection under its name.
     */
    public void drop() throws IOException {
        close();
        Path doomed = dir.resolveSibling(dir.getFileName() + ".dropped-" + System.nanoTime());
        Files.move(dir, doomed, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        Durable.syncDirectory(dir.getParent());
        deleteTree(doomed);
    }

    public static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (var walk = Files.walk(root)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Override
    public String toString() {
        return "VectorCollection[" + dir.getFileName() + ", " + spec + ", " + size() + " vectors]";
    }
}
