package io.spillway.server.store;

import io.spillway.server.platform.keys.Database;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Metric;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import io.spillway.vectors.storage.OwnerOnly;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Collections in PostgreSQL, shared by every replica on the same database. The tables are the
 * source of truth ({@code vector_collections}, {@code vector_items}, and {@code vector_changes}, the
 * ordered log of each collection's writes); each replica keeps every collection's HNSW index in
 * memory, with a local snapshot and log under {@code <collections.data-dir>/replica/}, as a cache
 * that it keeps current by applying the change log in order.
 *
 * <p>A follower thread LISTENs for the notifications writes send as they commit and applies what
 * they announce at once; it also reads the catalog every sync interval, so a notification lost (the
 * listening connection dropped, PostgreSQL restarted) only delays a change by that interval, never
 * loses it, since changes are read by sequence number, not from notifications. At start a replica
 * opens each collection's local snapshot and applies the log from there, or builds the index from
 * the tables when it has none (or the log no longer reaches back to it).
 */
public final class SharedCatalog implements CollectionCatalog {

    private static final Logger LOG = LoggerFactory.getLogger(SharedCatalog.class);
    static final String CHANNEL = "spillway_collections";

    /**
     * @param localDir     where this replica keeps its indexes (a cache: deleting it costs a rebuild, never data)
     * @param localStorage how those are kept: no fsync is needed, what a crash loses is re-read from the log
     * @param syncInterval how often the catalog is read regardless of notifications: the longest a change
     *                     waits to be seen here when its notification is lost
     * @param logRetention how long the log keeps a change: a replica that was away longer rebuilds from the tables
     */
    public record Settings(Path localDir, StorageOptions localStorage, Duration syncInterval, Duration logRetention) {
    }

    private final Database db;
    private final Settings settings;
    private final Map<String, SharedCollection> byId = new ConcurrentHashMap<>();
    private final Map<String, SharedCollection> byName = new ConcurrentHashMap<>();
    private final Thread follower;
    private volatile boolean closed;
    private volatile Connection listening;

    private SharedCatalog(Database db, Settings settings) {
        this.db = db;
        this.settings = settings;
        this.follower = Thread.ofPlatform().name("collections-follower").daemon().unstarted(this::follow);
    }

    /**
     * Opens every collection of the database, each caught up with the log (so a replica serves once
     * it holds what was committed before it started), and starts following the log.
     */
    public static SharedCatalog start(Database db, Settings settings) throws IOException {
        if (!db.isPostgres()) {
            throw new IllegalArgumentException("collections.store database needs database.url on PostgreSQL (replicas follow its"
                    + " change log through LISTEN/NOTIFY); on one box, use collections.store embedded");
        }
        OwnerOnly.createDirectories(settings.localDir());
        SharedCatalog catalog = new SharedCatalog(db, settings);
        try {
            long start = System.nanoTime();
            List<Row> rows = catalog.rows();
            Set<String> ids = new HashSet<>();
            for (Row r : rows) {
                ids.add(r.id());
                catalog.open(r);
            }
            catalog.removeLocalDirsExcept(ids);
            LOG.info("collections: {} shared collections in {}, caught up in {} ms", rows.size(), db.url(),
                    (System.nanoTime() - start) / 1_000_000);
        } catch (SQLException e) {
            catalog.close();
            throw catalog.failure("reading the catalog", e);
        } catch (IOException | RuntimeException e) {
            catalog.close();
            throw e;
        }
        catalog.follower.start();
        return catalog;
    }

    /** A collection as the catalog table describes it. */
    record Row(String id, String owner, String name, CollectionSpec spec, long lastSeq) {
    }

    private static final String ROW_COLUMNS = "id, owner, name, dimension, metric, m, ef_construction, ef, last_seq";

    /** A collection's row, as of {@code seq}; the migration writes copied collections the same way. */
    static void insertCollection(Connection conn, String id, String owner, String name, CollectionSpec spec, long seq)
            throws SQLException {
        try (PreparedStatement s = conn.prepareStatement("INSERT INTO vector_collections (" + ROW_COLUMNS + ", created_at)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            s.setString(1, id);
            s.setString(2, owner);
            s.setString(3, name);
            s.setInt(4, spec.dimension());
            s.setString(5, spec.metric().wireName());
            s.setInt(6, spec.m());
            s.setInt(7, spec.efConstruction());
            s.setInt(8, spec.ef());
            s.setLong(9, seq);
            s.setLong(10, System.currentTimeMillis());
            s.executeUpdate();
        }
    }

    private static Row row(ResultSet r) throws SQLException {
        return new Row(r.getString(1), r.getString(2), r.getString(3), new CollectionSpec(r.getInt(4), Metric.parse(r.getString(5)),
                r.getInt(6), r.getInt(7), r.getInt(8)), r.getLong(9));
    }

    private List<Row> rows() throws SQLException {
        try (Connection c = db.connection(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("SELECT " + ROW_COLUMNS + " FROM vector_collections")) {
            List<Row> out = new ArrayList<>();
            while (r.next()) {
                out.add(row(r));
            }
            return out;
        }
    }

    private static String key(String owner, String name) {
        return owner + '\u0000' + name;
    }

    /** Opens a collection here: its local index if it has one that fits, else a build from the tables; then the log. */
    private synchronized SharedCollection open(Row r) throws IOException {
        SharedCollection known = byId.get(r.id());
        if (known != null) {
            return known;
        }
        long start = System.nanoTime();
        Optional<Path> newest = Optional.empty();
        List<Path> dirs = localDirs(r.id());
        for (int i = 0; i < dirs.size(); i++) {
            if (i < dirs.size() - 1) {
                VectorCollection.deleteTree(dirs.get(i));  // left by an interrupted rebuild, or superseded
            } else {
                newest = Optional.of(dirs.get(i));
            }
        }
        VectorCollection local = null;
        Path dir = null;
        if (newest.isPresent()) {
            try {
                local = VectorCollection.open(newest.get(), settings.localStorage());
                dir = newest.get();
                if (local.lastSeq() > r.lastSeq() || !local.spec().equals(r.spec())) {
                    // Ahead of the database (restored from an older backup?) or another collection: not a cache of this one.
                    LOG.warn("collection {}/{}: the local index at seq {} does not match the database at seq {}; rebuilding it",
                            r.owner(), r.name(), local.lastSeq(), r.lastSeq());
                    local.close();
                    VectorCollection.deleteTree(dir);
                    local = null;
                }
            } catch (IOException | RuntimeException e) {
                LOG.warn("collection {}/{}: the local index is unreadable ({}); rebuilding it from the tables", r.owner(), r.name(), e.toString());
                VectorCollection.deleteTree(newest.get());
                local = null;
            }
        }
        boolean rebuild = local == null;
        if (rebuild) {
            dir = newLocalDir(r.id());
            local = VectorCollection.create(dir, r.spec(), settings.localStorage());
        }
        SharedCollection c = new SharedCollection(this, r.id(), r.owner(), r.name(), r.spec(), local, dir);
        if (rebuild && r.lastSeq() > 0) {
            c.rebuild();
        }
        long from = c.appliedSeq();
        long applied = c.catchUp(Long.MAX_VALUE);
        if (!rebuild || applied > 0) {
            LOG.info("collection {}/{}: {} from seq {}, {} changes applied from the shared log, now at seq {} ({} records) in {} ms",
                    r.owner(), r.name(), rebuild ? "built from the tables" : "local index", from, applied, c.appliedSeq(), c.size(),
                    (System.nanoTime() - start) / 1_000_000);
        }
        byId.put(r.id(), c);
        byName.put(key(r.owner(), r.name()), c);
        return c;
    }

    private List<Path> localDirs(String id) throws IOException {
        if (!Files.isDirectory(settings.localDir())) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(settings.localDir())) {
            return files.filter(p -> p.getFileName().toString().matches(java.util.regex.Pattern.quote(id) + "\\.\\d{20}"))
                    .sorted().toList();
        }
    }

    /** Directories are named {@code <id>.<generation>}: a rebuild fills a new one and the newest complete one wins. */
    Path newLocalDir(String id) {
        return settings.localDir().resolve(id + "." + String.format("%020d", System.currentTimeMillis() * 1000 + (System.nanoTime() / 1000) % 1000));
    }

    StorageOptions localStorage() {
        return settings.localStorage();
    }

    private void removeLocalDirsExcept(Set<String> ids) throws IOException {
        try (Stream<Path> files = Files.list(settings.localDir())) {
            for (Path p : files.toList()) {
                String n = p.getFileName().toString();
                String id = n.contains(".") ? n.substring(0, n.indexOf('.')) : n;
                if (!ids.contains(id)) {
                    VectorCollection.deleteTree(p);
                }
            }
        }
    }

    // ---- the catalog ----

    @Override
    public StoredCollection create(String owner, String name, CollectionSpec spec) throws IOException {
        io.spillway.vectors.CollectionStore.validateName(name);
        String id = UUID.randomUUID().toString();
        try {
            db.transaction(c -> {
                insertCollection(c, id, owner, name, spec, 0);
                notify(c, id, 0);
                return null;
            });
        } catch (SQLException e) {
            if ("23505".equals(e.getSQLState())) {
                throw new IllegalStateException("collection '" + name + "' already exists");
            }
            throw failure("creating collection '" + name + "'", e);
        }
        return open(new Row(id, owner, name, spec, 0));
    }

    @Override
    public Optional<StoredCollection> get(String owner, String name) throws IOException {
        SharedCollection known = byName.get(key(owner, name));
        if (known != null && !known.dropped()) {
            return Optional.of(known);
        }
        // Created on another replica a moment ago: the catalog knows it before the follower does.
        Optional<Row> row;
        try (Connection c = db.connection(); PreparedStatement s = c.prepareStatement("SELECT " + ROW_COLUMNS
                + " FROM vector_collections WHERE owner = ? AND name = ?")) {
            s.setString(1, owner);
            s.setString(2, name);
            try (ResultSet r = s.executeQuery()) {
                row = r.next() ? Optional.of(row(r)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("looking up collection '" + name + "'", e);
        }
        if (row.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(open(row.get()));
    }

    @Override
    public List<String> names(String owner) throws IOException {
        try (Connection c = db.connection(); PreparedStatement s = c.prepareStatement(
                "SELECT name FROM vector_collections WHERE owner = ? ORDER BY name")) {
            s.setString(1, owner);
            List<String> out = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    out.add(r.getString(1));
                }
            }
            return out;
        } catch (SQLException e) {
            throw failure("listing collections", e);
        }
    }

    @Override
    public boolean drop(String owner, String name) throws IOException {
        String id;
        try {
            id = db.transaction(c -> {
                String found = null;
                try (PreparedStatement s = c.prepareStatement("DELETE FROM vector_collections WHERE owner = ? AND name = ? RETURNING id")) {
                    s.setString(1, owner);
                    s.setString(2, name);
                    try (ResultSet r = s.executeQuery()) {
                        if (r.next()) {
                            found = r.getString(1);
                        }
                    }
                }
                if (found == null) {
                    return null;
                }
                for (String table : List.of("vector_items", "vector_changes")) {
                    try (PreparedStatement s = c.prepareStatement("DELETE FROM " + table + " WHERE collection_id = ?")) {
                        s.setString(1, found);
                        s.executeUpdate();
                    }
                }
                notify(c, found, -1);
                return found;
            });
        } catch (SQLException e) {
            throw failure("dropping collection '" + name + "'", e);
        }
        if (id == null) {
            return false;
        }
        forget(id);
        return true;
    }

    private void forget(String id) {
        SharedCollection c = byId.remove(id);
        if (c != null) {
            byName.remove(key(c.owner, c.name()), c);
            c.dropLocally();
        }
    }

    private static void notify(Connection c, String id, long seq) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("SELECT pg_notify(?, ?)")) {
            s.setString(1, CHANNEL);
            s.setString(2, id + ":" + seq);
            s.execute();
        }
    }

    /** The exception to throw for a failed statement: {@link StoreUnavailableException} (thrown here) when the database is unreachable. */
    private IOException failure(String what, SQLException e) {
        if (Rows.unreachable(e)) {
            throw new StoreUnavailableException("The collection store (PostgreSQL) is unreachable while " + what + ": " + e.getMessage(), e);
        }
        return new IOException(what + ": " + e.getMessage(), e);
    }

    // ---- what collections ask of the database ----

    /** Runs a write's transaction, then has PostgreSQL notify the replicas as it commits; null from {@code work} means nothing was written. */
    Rows.Change commit(SharedCollection c, Database.Work<Rows.Change> work) throws IOException {
        try {
            return db.transaction(conn -> {
                Rows.Change change = work.run(conn);
                if (change == null) {
                    conn.rollback();
                    return null;
                }
                try (PreparedStatement s = conn.prepareStatement("INSERT INTO vector_changes (collection_id, seq, payload, created_at)"
                        + " VALUES (?, ?, ?, ?)")) {
                    s.setString(1, c.id);
                    s.setLong(2, change.seq());
                    s.setBytes(3, Rows.encode(change.upserts(), change.deletes()));
                    s.setLong(4, System.currentTimeMillis());
                    s.executeUpdate();
                }
                notify(conn, c.id, change.seq());
                return change;
            });
        } catch (SQLException e) {
            throw failure("writing to collection '" + c.name() + "'", e);
        }
    }

    long committedSeq(SharedCollection c) throws IOException {
        try (Connection conn = db.connection(); PreparedStatement s = conn.prepareStatement(
                "SELECT last_seq FROM vector_collections WHERE id = ?")) {
            s.setString(1, c.id);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    throw new NoSuchCollectionException(c.name());
                }
                return r.getLong(1);
            }
        } catch (SQLException e) {
            throw failure("reading collection '" + c.name() + "'", e);
        }
    }

    List<Rows.Change> readLog(SharedCollection c, long after, int limit) throws IOException {
        try (Connection conn = db.connection(); PreparedStatement s = conn.prepareStatement(
                "SELECT seq, payload FROM vector_changes WHERE collection_id = ? AND seq > ? ORDER BY seq LIMIT ?")) {
            s.setString(1, c.id);
            s.setLong(2, after);
            s.setInt(3, limit);
            List<Rows.Change> out = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    out.add(Rows.decode(r.getLong(1), r.getBytes(2), c.spec().dimension()));
                }
            }
            return out;
        } catch (SQLException e) {
            throw failure("reading the log of collection '" + c.name() + "'", e);
        }
    }

    /**
     * Fills {@code fresh} with a collection's items as of one committed sequence number: both read in
     * one REPEATABLE READ transaction, so the items are exactly the state at that number and the log
     * takes over from there. Returns the number.
     */
    long loadFromTables(SharedCollection c, VectorCollection fresh) throws IOException {
        try (Connection conn = db.connection()) {
            conn.setAutoCommit(false);
            conn.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            try {
                long seq;
                try (PreparedStatement s = conn.prepareStatement("SELECT last_seq FROM vector_collections WHERE id = ?")) {
                    s.setString(1, c.id);
                    try (ResultSet r = s.executeQuery()) {
                        if (!r.next()) {
                            throw new NoSuchCollectionException(c.name());
                        }
                        seq = r.getLong(1);
                    }
                }
                try (PreparedStatement s = conn.prepareStatement("SELECT id, vector, metadata, text FROM vector_items WHERE collection_id = ?")) {
                    s.setString(1, c.id);
                    s.setFetchSize(1000);
                    try (ResultSet r = s.executeQuery()) {
                        fresh.load(batches(r, 1000), seq);
                    }
                }
                conn.commit();
                return seq;
            } finally {
                conn.rollback();
                conn.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
                conn.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("reading the items of collection '" + c.name() + "'", e);
        }
    }

    /** Rows of items, a batch at a time, as records. */
    private static Iterator<List<VectorRecord>> batches(ResultSet r, int size) {
        return new Iterator<>() {
            private List<VectorRecord> next = read();

            private List<VectorRecord> read() {
                List<VectorRecord> batch = new ArrayList<>(size);
                try {
                    while (batch.size() < size && r.next()) {
                        batch.add(new VectorRecord(r.getString(1), Rows.vector(r.getBytes(2)), Rows.metadata(r.getString(3), r.getString(4))));
                    }
                } catch (SQLException e) {
                    throw new IllegalStateException("reading items: " + e.getMessage(), e);
                }
                return batch.isEmpty() ? null : batch;
            }

            @Override
            public boolean hasNext() {
                return next != null;
            }

            @Override
            public List<VectorRecord> next() {
                if (next == null) {
                    throw new NoSuchElementException();
                }
                List<VectorRecord> out = next;
                next = out.size() < size ? null : read();
                return out;
            }
        };
    }

    // ---- following the log ----

    private void follow() {
        long lastRefresh = 0;
        long lastTrim = System.nanoTime();
        boolean failing = false;
        while (!closed) {
            try {
                if (listening == null) {
                    Connection c = db.dedicatedConnection();
                    try (Statement s = c.createStatement()) {
                        s.execute("LISTEN " + CHANNEL);
                    }
                    listening = c;
                    // Whatever was announced while not listening is in the catalog.
                    refresh();
                    lastRefresh = System.nanoTime();
                    if (failing) {
                        LOG.info("collections: following the shared log again");
                        failing = false;
                    }
                }
                PGNotification[] notes = listening.unwrap(PGConnection.class).getNotifications((int) settings.syncInterval().toMillis());
                Map<String, Long> announced = new HashMap<>();
                boolean unknown = false;
                for (PGNotification n : notes == null ? new PGNotification[0] : notes) {
                    String[] parts = n.getParameter().split(":");
                    long seq = parts.length == 2 ? Long.parseLong(parts[1]) : 0;
                    announced.merge(parts[0], seq, Math::max);
                    unknown |= !byId.containsKey(parts[0]) || seq <= 0;
                }
                if (unknown || System.nanoTime() - lastRefresh >= settings.syncInterval().toNanos()) {
                    refresh();
                    lastRefresh = System.nanoTime();
                } else {
                    for (Map.Entry<String, Long> e : announced.entrySet()) {
                        SharedCollection c = byId.get(e.getKey());
                        if (c != null && c.appliedSeq() < e.getValue()) {
                            c.catchUp(e.getValue());
                        }
                    }
                }
                if (System.nanoTime() - lastTrim >= Duration.ofMinutes(1).toNanos()) {
                    trimLog();
                    lastTrim = System.nanoTime();
                }
            } catch (SQLException | IOException | RuntimeException e) {
                if (closed) {
                    break;
                }
                if (!failing) {
                    LOG.warn("collections: following the shared log failed ({}); retrying every {} ms", e.toString(),
                            settings.syncInterval().toMillis());
                    failing = true;
                }
                closeListening();
                try {
                    Thread.sleep(Math.min(1000, settings.syncInterval().toMillis()));
                } catch (InterruptedException ie) {
                    break;
                }
            }
        }
        closeListening();
    }

    /** Brings this replica in line with the catalog: new collections opened, dropped ones removed, every one caught up. */
    void refresh() throws SQLException, IOException {
        List<Row> rows = rows();
        Set<String> live = new HashSet<>();
        for (Row r : rows) {
            live.add(r.id());
            SharedCollection c = byId.get(r.id());
            if (c == null) {
                open(r);
            } else if (c.appliedSeq() < r.lastSeq()) {
                c.catchUp(r.lastSeq());
            }
        }
        for (String id : List.copyOf(byId.keySet())) {
            if (!live.contains(id)) {
                forget(id);
            }
        }
    }

    private void trimLog() throws SQLException {
        long horizon = System.currentTimeMillis() - settings.logRetention().toMillis();
        try (Connection c = db.connection(); PreparedStatement s = c.prepareStatement("DELETE FROM vector_changes WHERE created_at < ?")) {
            s.setLong(1, horizon);
            int n = s.executeUpdate();
            if (n > 0) {
                LOG.info("collections: trimmed {} changes older than {} h from the shared log", n, settings.logRetention().toHours());
            }
        }
    }

    private void closeListening() {
        Connection c = listening;
        listening = null;
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // Already broken.
            }
        }
    }

    /** Stops following, and snapshots and closes every local index. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        follower.interrupt();
        closeListening();
        try {
            follower.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            for (SharedCollection c : byId.values()) {
                c.close();
            }
            byId.clear();
            byName.clear();
        }
    }
}
