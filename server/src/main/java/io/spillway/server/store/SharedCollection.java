package io.spillway.server.store;

import io.spillway.server.platform.keys.Database;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One collection of the shared store, as this replica holds it: PostgreSQL has the truth (its items
 * and the ordered log of its writes), and this replica's HNSW index is a cache of it that has
 * applied the log up to {@link #appliedSeq()}.
 *
 * <p>A write commits to PostgreSQL first (items, the change with its sequence number, a
 * notification to the other replicas, all in one transaction), and only then is acknowledged; this
 * replica applies it at once, and the others when notified or at their next poll. The log is applied
 * in order and each change exactly once: whoever applies (the writer, the follower, a reader waiting
 * for a sequence number) holds {@link #applying} and reads whatever it is missing from the log.
 */
public final class SharedCollection implements StoredCollection {

    private static final Logger LOG = LoggerFactory.getLogger(SharedCollection.class);
    /** Changes read from the log per round trip: few, since one can hold 10,000 vectors. */
    private static final int PAGE = 32;

    private final SharedCatalog catalog;
    final String id;
    final String owner;
    private final String name;
    private final CollectionSpec spec;
    private final ReentrantLock applying = new ReentrantLock();
    private final Condition advanced = applying.newCondition();
    private volatile VectorCollection local;
    private volatile Path localDir;
    private volatile boolean dropped;

    SharedCollection(SharedCatalog catalog, String id, String owner, String name, CollectionSpec spec, VectorCollection local, Path localDir) {
        this.catalog = catalog;
        this.id = id;
        this.owner = owner;
        this.name = name;
        this.spec = spec;
        this.local = local;
        this.localDir = localDir;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public CollectionSpec spec() {
        return spec;
    }

    @Override
    public int size() {
        return local.size();
    }

    @Override
    public long appliedSeq() {
        return local.lastSeq();
    }

    boolean dropped() {
        return dropped;
    }

    @Override
    public long upsert(List<VectorRecord> records) throws IOException {
        return upsert(records, OptionalLong.empty());
    }

    /** As {@link #upsert(List)}, the records expiring at {@code expiresAtMillis} (the semantic cache's entries). */
    public long upsert(List<VectorRecord> records, OptionalLong expiresAtMillis) throws IOException {
        if (records.isEmpty()) {
            return appliedSeq();
        }
        List<VectorRecord> prepared = lastById(VectorCollection.prepare(spec, records));
        Rows.Change change = write(c -> {
            long seq = nextSeq(c);
            putItems(c, prepared, null, expiresAtMillis, seq);
            return new Rows.Change(seq, prepared, List.of());
        });
        applyOwn(change);
        return change.seq();
    }

    @Override
    public Deleted delete(Collection<String> ids) throws IOException {
        if (ids.isEmpty()) {
            return new Deleted(0, 0);
        }
        Rows.Change change = write(c -> {
            long seq = nextSeq(c);
            List<String> gone = new ArrayList<>();
            try (PreparedStatement s = c.prepareStatement("DELETE FROM vector_items WHERE collection_id = ? AND id = ?")) {
                for (String item : new java.util.LinkedHashSet<>(ids)) {
                    s.setString(1, id);
                    s.setString(2, item);
                    if (s.executeUpdate() > 0) {
                        gone.add(item);
                    }
                }
            }
            return gone.isEmpty() ? null : new Rows.Change(seq, List.of(), gone);
        });
        if (change == null) {
            return new Deleted(0, 0);
        }
        applyOwn(change);
        return new Deleted(change.deletes().size(), change.seq());
    }

    /** Deletes the entries that expired by {@code nowMillis}; returns how many (the semantic cache's sweep). */
    public int deleteExpired(long nowMillis) throws IOException {
        Rows.Change change = write(c -> {
            long seq = nextSeq(c);
            List<String> gone = returningIds(c, "DELETE FROM vector_items WHERE collection_id = ? AND expires_at IS NOT NULL"
                    + " AND expires_at <= ? RETURNING id", s -> s.setLong(2, nowMillis));
            return gone.isEmpty() ? null : new Rows.Change(seq, List.of(), gone);
        });
        if (change == null) {
            return 0;
        }
        applyOwn(change);
        return change.deletes().size();
    }

    /** Deletes the oldest entries beyond {@code keep} (the semantic cache's bound); returns how many. */
    public int trimTo(int keep) throws IOException {
        Rows.Change change = write(c -> {
            long seq = nextSeq(c);
            List<String> gone = returningIds(c, "DELETE FROM vector_items WHERE collection_id = ? AND id IN (SELECT id FROM"
                    + " vector_items WHERE collection_id = ? ORDER BY seq DESC OFFSET ?) RETURNING id", s -> {
                s.setString(2, id);
                s.setInt(3, keep);
            });
            return gone.isEmpty() ? null : new Rows.Change(seq, List.of(), gone);
        });
        if (change == null) {
            return 0;
        }
        applyOwn(change);
        return change.deletes().size();
    }

    @Override
    public long putDocument(String documentId, List<VectorRecord> chunks) throws IOException {
        List<VectorRecord> prepared = lastById(VectorCollection.prepare(spec, chunks));
        Rows.Change change = write(c -> {
            long seq = nextSeq(c);
            putItems(c, prepared, documentId, OptionalLong.empty(), seq);
            // The chunks just written carry this seq; any older chunk of the document is left over.
            List<String> gone = returningIds(c, "DELETE FROM vector_items WHERE collection_id = ? AND document_id = ? AND seq < ?"
                    + " RETURNING id", s -> {
                s.setString(2, documentId);
                s.setLong(3, seq);
            });
            return new Rows.Change(seq, prepared, gone);
        });
        applyOwn(change);
        return change.seq();
    }

    @Override
    public Deleted deleteDocument(String documentId) throws IOException {
        Rows.Change change = write(c -> {
            long seq = nextSeq(c);
            List<String> gone = returningIds(c, "DELETE FROM vector_items WHERE collection_id = ? AND document_id = ? RETURNING id",
                    s -> s.setString(2, documentId));
            return gone.isEmpty() ? null : new Rows.Change(seq, List.of(), gone);
        });
        if (change == null) {
            return new Deleted(0, 0);
        }
        applyOwn(change);
        return new Deleted(change.deletes().size(), change.seq());
    }

    @Override
    public Optional<VectorRecord> get(String item) {
        return local.get(item);
    }

    @Override
    public List<SearchHit> query(float[] vector, int k, int ef, Filter filter) {
        return local.query(vector, k, ef, filter);
    }

    @Override
    public boolean awaitApplied(long seq, Duration timeout) throws InterruptedException, IOException {
        if (appliedSeq() >= seq) {
            return true;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            // Read the log directly rather than wait for a notification: a missed one must not cost the wait.
            long committed = catalog.committedSeq(this);
            long remaining = deadline - System.nanoTime();
            if (committed > appliedSeq() && applying.tryLock(Math.max(0, remaining), TimeUnit.NANOSECONDS)) {
                try {
                    catchUpLocked(Math.min(seq, committed));
                } finally {
                    applying.unlock();
                }
            }
            if (appliedSeq() >= seq) {
                return true;
            }
            remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return false;
            }
            // A sequence number not committed yet (sent ahead of its write's answer): look again shortly.
            Thread.sleep(Math.max(1, Math.min(50, TimeUnit.NANOSECONDS.toMillis(remaining))));
        }
    }

    // ---- writing ----

    private Rows.Change write(Database.Work<Rows.Change> work) throws IOException {
        return catalog.commit(this, work);
    }

    private interface Params {
        void set(PreparedStatement s) throws SQLException;
    }

    private List<String> returningIds(Connection c, String sql, Params params) throws SQLException {
        List<String> out = new ArrayList<>();
        try (PreparedStatement s = c.prepareStatement(sql)) {
            s.setString(1, id);
            params.set(s);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    out.add(r.getString(1));
                }
            }
        }
        return out;
    }

    /** Takes the collection's next sequence number, locking its row until the transaction ends. */
    private long nextSeq(Connection c) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("UPDATE vector_collections SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq")) {
            s.setString(1, id);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    throw new NoSuchCollectionException(name);
                }
                return r.getLong(1);
            }
        }
    }

    private void putItems(Connection c, List<VectorRecord> records, String documentId, OptionalLong expiresAt, long seq) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("INSERT INTO vector_items (collection_id, id, document_id, vector, metadata, text,"
                + " expires_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collection_id, id) DO UPDATE SET"
                + " document_id = excluded.document_id, vector = excluded.vector, metadata = excluded.metadata, text = excluded.text,"
                + " expires_at = excluded.expires_at, seq = excluded.seq")) {
            int pending = 0;
            for (VectorRecord r : records) {
                s.setString(1, id);
                s.setString(2, r.id());
                s.setString(3, documentId);
                s.setBytes(4, Rows.vectorBytes(r.vector()));
                s.setString(5, Rows.metadataJson(r.metadata()));
                s.setString(6, Rows.text(r));
                if (expiresAt.isPresent()) {
                    s.setLong(7, expiresAt.getAsLong());
                } else {
                    s.setNull(7, java.sql.Types.BIGINT);
                }
                s.setLong(8, seq);
                s.addBatch();
                if (++pending == 1000) {
                    s.executeBatch();
                    pending = 0;
                }
            }
            if (pending > 0) {
                s.executeBatch();
            }
        }
    }

    /** Within one write the last record of an id wins, as the graph would have it; PostgreSQL refuses an id twice in one insert. */
    private static List<VectorRecord> lastById(List<VectorRecord> records) {
        Map<String, VectorRecord> last = new LinkedHashMap<>();
        records.forEach(r -> last.put(r.id(), r));
        return last.size() == records.size() ? records : List.copyOf(last.values());
    }

    // ---- applying the log ----

    /**
     * Applies a write this replica just committed: directly when it is next, else by reading what
     * comes before it from the log. The write is durable already; a failure here only leaves the
     * follower to apply it.
     */
    private void applyOwn(Rows.Change change) {
        applying.lock();
        try {
            long applied = local.lastSeq();
            if (applied == change.seq() - 1) {
                local.applyAt(change.seq(), change.upserts(), change.deletes());
                advanced.signalAll();
            } else if (applied < change.seq()) {
                catchUpLocked(change.seq());
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("collection {}/{}: applying its own write at seq {} failed; the follower will apply it from the log: {}", owner, name,
                    change.seq(), e.toString());
        } finally {
            applying.unlock();
        }
    }

    /** Applies the log up to {@code target} (or all of it, with {@link Long#MAX_VALUE}); returns how many changes. */
    long catchUp(long target) throws IOException {
        applying.lock();
        try {
            return catchUpLocked(target);
        } finally {
            applying.unlock();
        }
    }

    private long catchUpLocked(long target) throws IOException {
        long applied = 0;
        while (!dropped && local.lastSeq() < target) {
            long from = local.lastSeq();
            List<Rows.Change> page = catalog.readLog(this, from, PAGE);
            if (page.isEmpty() || page.get(0).seq() != from + 1) {
                if (page.isEmpty() && target == Long.MAX_VALUE) {
                    break;
                }
                // What this replica needs next is no longer in the log (trimmed after
                // collections.log-retention-hours): the tables have the state to start again from.
                rebuildLocked();
                continue;
            }
            for (Rows.Change ch : page) {
                local.applyAt(ch.seq(), ch.upserts(), ch.deletes());
                applied++;
            }
            advanced.signalAll();
        }
        return applied;
    }

    /** Replaces the local index by one built from the tables as of one committed sequence number. */
    void rebuild() throws IOException {
        applying.lock();
        try {
            rebuildLocked();
        } finally {
            applying.unlock();
        }
    }

    private void rebuildLocked() throws IOException {
        long start = System.nanoTime();
        Path dir = catalog.newLocalDir(id);
        VectorCollection fresh = VectorCollection.create(dir, spec, catalog.localStorage());
        try {
            long seq = catalog.loadFromTables(this, fresh);
            VectorCollection old = local;
            Path oldDir = localDir;
            local = fresh;
            localDir = dir;
            advanced.signalAll();
            old.close();
            VectorCollection.deleteTree(oldDir);
            LOG.info("collection {}/{}: rebuilt from the tables at seq {} ({} records) in {} ms", owner, name, seq, fresh.size(),
                    (System.nanoTime() - start) / 1_000_000);
        } catch (IOException | RuntimeException e) {
            fresh.close();
            VectorCollection.deleteTree(dir);
            throw e;
        }
    }

    /** Forgets this collection here (dropped in the database): closes and deletes the local index. */
    void dropLocally() {
        dropped = true;
        applying.lock();
        try {
            local.close();
            VectorCollection.deleteTree(localDir);
        } catch (IOException e) {
            LOG.warn("collection {}/{}: removing the local index of a dropped collection failed", owner, name, e);
        } finally {
            applying.unlock();
        }
    }

    /** Snapshots what was applied since the last snapshot, so that a restart reads only the rest of the log, and closes. */
    void close() {
        applying.lock();
        try {
            local.snapshotIfBehind();
            local.close();
        } catch (IOException e) {
            LOG.warn("collection {}/{}: closing the local index failed", owner, name, e);
        } finally {
            applying.unlock();
        }
    }

    @Override
    public String toString() {
        return "SharedCollection[" + owner + "/" + name + " at seq " + appliedSeq() + "]";
    }
}
