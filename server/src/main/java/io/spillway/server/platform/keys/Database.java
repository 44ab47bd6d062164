package io.spillway.server.platform.keys;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.spillway.vectors.storage.OwnerOnly;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Properties;

/**
 * The platform's database: keys, and spend against budgets; on PostgreSQL also what replicas
 * share (collections and their change log, rate-limit windows). SQLite in a local file by default
 * (no server to run, one replica); PostgreSQL when several replicas must agree. The schema is the
 * subset both speak (including {@code INSERT ... ON CONFLICT DO UPDATE}), built by numbered
 * migrations recorded in {@code schema_version}: one schema serves both, and a database is brought
 * up to date once, by whichever process opens it first.
 */
public final class Database implements AutoCloseable {

    /** A unit of work on one connection. */
    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /** One step of the schema: applied once, in order, inside a transaction, and recorded. */
    record Migration(int version, String description, List<String> statements) {
    }

    /**
     * The schema's history. Append only: a released step is never edited, since databases that ran
     * it would not run it again. Step 1 is the schema from before versioning, written with IF NOT
     * EXISTS so that a database created then adopts it unchanged.
     */
    static final List<Migration> MIGRATIONS = List.of(
            new Migration(1, "keys and spend", List.of("""
                    CREATE TABLE IF NOT EXISTS api_keys (
                      id VARCHAR(32) PRIMARY KEY,
                      secret_hash VARCHAR(64) NOT NULL UNIQUE,
                      tenant VARCHAR(200) NOT NULL,
                      name VARCHAR(200) NOT NULL,
                      allowed_models TEXT NOT NULL,
                      local_only BOOLEAN NOT NULL,
                      rpm INTEGER NOT NULL,
                      tpm BIGINT NOT NULL,
                      monthly_budget_usd DOUBLE PRECISION NOT NULL,
                      semantic_cache BOOLEAN NOT NULL,
                      pii_action VARCHAR(16) NOT NULL,
                      log_prompts BOOLEAN NOT NULL,
                      created_at BIGINT NOT NULL,
                      revoked_at BIGINT)""", """
                    CREATE TABLE IF NOT EXISTS key_spend (
                      key_id VARCHAR(32) NOT NULL,
                      period VARCHAR(7) NOT NULL,
                      cost_usd DOUBLE PRECISION NOT NULL,
                      prompt_tokens BIGINT NOT NULL,
                      completion_tokens BIGINT NOT NULL,
                      requests BIGINT NOT NULL,
                      PRIMARY KEY (key_id, period))""")),
            // Collections shared by replicas: the items as they are now, and every write in order.
            // last_seq is the collection's write counter: a write takes it (locking the row until it
            // commits), so sequence numbers are dense and commit in their order.
            new Migration(2, "shared collections", List.of("""
                    CREATE TABLE vector_collections (
                      id VARCHAR(36) PRIMARY KEY,
                      owner VARCHAR(200) NOT NULL,
                      name VARCHAR(64) NOT NULL,
                      dimension INTEGER NOT NULL,
                      metric VARCHAR(16) NOT NULL,
                      m INTEGER NOT NULL,
                      ef_construction INTEGER NOT NULL,
                      ef INTEGER NOT NULL,
                      last_seq BIGINT NOT NULL,
                      created_at BIGINT NOT NULL,
                      UNIQUE (owner, name))""", """
                    CREATE TABLE vector_items (
                      collection_id VARCHAR(36) NOT NULL,
                      id TEXT NOT NULL,
                      document_id TEXT,
                      vector BYTEA NOT NULL,
                      metadata TEXT NOT NULL,
                      text TEXT,
                      expires_at BIGINT,
                      seq BIGINT NOT NULL,
                      PRIMARY KEY (collection_id, id))""",
                    "CREATE INDEX vector_items_document ON vector_items (collection_id, document_id)",
                    "CREATE INDEX vector_items_expiry ON vector_items (collection_id, expires_at)", """
                    CREATE TABLE vector_changes (
                      collection_id VARCHAR(36) NOT NULL,
                      seq BIGINT NOT NULL,
                      payload BYTEA NOT NULL,
                      created_at BIGINT NOT NULL,
                      PRIMARY KEY (collection_id, seq))""")),
            // Rate-limit windows shared by replicas: one row per key, checked and counted by one statement.
            new Migration(3, "shared rate-limit windows", List.of("""
                    CREATE TABLE rate_windows (
                      key_id VARCHAR(64) PRIMARY KEY,
                      window_start BIGINT NOT NULL,
                      requests BIGINT NOT NULL,
                      tokens BIGINT NOT NULL,
                      admitted BOOLEAN NOT NULL)""")),
            // Empty: the server's router.pii-on-spill.
            new Migration(4, "a key's pii-on-spill policy", List.of(
                    "ALTER TABLE api_keys ADD COLUMN pii_on_spill VARCHAR(16) NOT NULL DEFAULT ''")));

    private final HikariDataSource pool;
    private final String url;
    private final String user;
    private final String password;

    private Database(HikariDataSource pool, String url, String user, String password) {
        this.pool = pool;
        this.url = url;
        this.user = user;
        this.password = password;
    }

    /**
     * Opens (creating the schema if needed) the database at a JDBC URL: {@code jdbc:sqlite:FILE} or
     * {@code jdbc:postgresql://HOST/DB}.
     */
    public static Database open(String url, String user, String password) {
        return open(url, user, password, Duration.ofSeconds(10));
    }

    /**
     * As {@link #open(String, String, String)}, waiting at most {@code connectionTimeout} for a
     * connection: while the database is down, that is how long a request waits before it is told so.
     */
    public static Database open(String url, String user, String password, Duration connectionTimeout) {
        HikariConfig c = new HikariConfig();
        c.setJdbcUrl(url);
        c.setPoolName("spillway-db");
        c.setConnectionTimeout(Math.max(250, connectionTimeout.toMillis()));
        if (url.startsWith("jdbc:sqlite:")) {
            Path file = Path.of(url.substring("jdbc:sqlite:".length()));
            try {
                if (file.getParent() != null) {
                    OwnerOnly.createDirectories(file.getParent());
                }
                // SQLite would create the file 644 (less the umask); made here first, owner-only, it
                // is a valid empty database, and SQLite gives its -wal and -shm files the same mode.
                OwnerOnly.createFileIfMissing(file);
            } catch (java.io.IOException e) {
                throw new IllegalStateException("cannot create the database " + file + ": " + e.getMessage(), e);
            }
            // One connection: SQLite serializes writers anyway, and this keeps them from ever
            // seeing SQLITE_BUSY. WAL lets readers in other processes (the keys CLI) proceed.
            c.setMaximumPoolSize(1);
            c.addDataSourceProperty("journal_mode", "WAL");
            c.addDataSourceProperty("busy_timeout", "10000");
        } else if (url.startsWith("jdbc:postgresql:")) {
            c.setMaximumPoolSize(8);
            if (!user.isEmpty()) {
                c.setUsername(user);
            }
            if (!password.isEmpty()) {
                c.setPassword(password);
            }
            // Large batches of rows go as multi-row inserts: one statement per batch, not per row.
            c.addDataSourceProperty("reWriteBatchedInserts", "true");
        } else {
            throw new IllegalArgumentException("database.url must be jdbc:sqlite:FILE or jdbc:postgresql://HOST/DB, not " + url);
        }
        HikariDataSource pool;
        try {
            pool = new HikariDataSource(c);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot open the database " + url + ": " + rootMessage(e), e);
        }
        Database db = new Database(pool, url, user, password);
        try {
            db.migrate();
        } catch (RuntimeException e) {
            pool.close();
            throw e;
        }
        return db;
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) {
            e = e.getCause();
        }
        return e.getMessage();
    }

    public String url() {
        return url;
    }

    /**
     * Whether a failure means the database could not be reached (down, restarting, refusing
     * connections, the pool's wait ran out) rather than that the statement was wrong: the former is
     * a 503 to retry, the latter a fault.
     */
    public static boolean unreachable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.sql.SQLTransientConnectionException || t instanceof java.net.ConnectException
                    || t instanceof java.io.EOFException || t instanceof java.net.SocketException) {
                return true;
            }
            if (t instanceof SQLException s && s.getSQLState() != null) {
                String state = s.getSQLState();
                if (state.startsWith("08") || state.startsWith("57P") || state.startsWith("53")) {
                    return true;
                }
            }
        }
        return false;
    }

    public boolean isPostgres() {
        return url.startsWith("jdbc:postgresql:");
    }

    public <T> T run(Work<T> work) {
        try (Connection c = pool.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw new IllegalStateException("database " + url + ": " + e.getMessage(), e);
        }
    }

    /** A pooled connection; the caller closes it (which returns it). */
    public Connection connection() throws SQLException {
        return pool.getConnection();
    }

    /**
     * A connection of its own, outside the pool, for a session that lasts: PostgreSQL delivers
     * notifications to the session that LISTENs, so that session must not go back to a pool.
     */
    public Connection dedicatedConnection() throws SQLException {
        Properties p = new Properties();
        if (!user.isEmpty()) {
            p.setProperty("user", user);
        }
        if (!password.isEmpty()) {
            p.setProperty("password", password);
        }
        p.setProperty("connectTimeout", Long.toString(Math.max(1, pool.getConnectionTimeout() / 1000)));
        return java.sql.DriverManager.getConnection(url, p);
    }

    /** {@code work} in one transaction: committed when it returns, rolled back when it throws. */
    public <T> T transaction(Work<T> work) throws SQLException {
        try (Connection c = pool.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (SQLException | RuntimeException e) {
                try {
                    c.rollback();
                } catch (SQLException again) {
                    e.addSuppressed(again);
                }
                throw e;
            } finally {
                try {
                    c.setAutoCommit(true);
                } catch (SQLException ignored) {
                    // A broken connection: the pool retires it.
                }
            }
        }
    }

    /** The newest migration this database has run. */
    public int schemaVersion() {
        return run(c -> {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT MAX(version) FROM schema_version")) {
                return r.next() ? r.getInt(1) : 0;
            }
        });
    }

    /**
     * Runs the migrations this database has not run, each in its own transaction. On PostgreSQL an
     * advisory lock makes replicas that start together take turns: the first migrates, the others
     * find it done.
     */
    private void migrate() {
        run(c -> {
            for (Migration m : MIGRATIONS) {
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    if (isPostgres()) {
                        s.execute("SELECT pg_advisory_xact_lock(7411019)");
                    }
                    s.executeUpdate("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                            + " description VARCHAR(200) NOT NULL, applied_at BIGINT NOT NULL)");
                    boolean done;
                    try (ResultSet r = s.executeQuery("SELECT COUNT(*) FROM schema_version WHERE version = " + m.version())) {
                        done = r.next() && r.getInt(1) > 0;
                    }
                    if (!done) {
                        for (String sql : m.statements()) {
                            s.executeUpdate(sql);
                        }
                        try (PreparedStatement p = c.prepareStatement(
                                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)")) {
                            p.setInt(1, m.version());
                            p.setString(2, m.description());
                            p.setLong(3, System.currentTimeMillis());
                            p.executeUpdate();
                        }
                    }
                    c.commit();
                } catch (SQLException | RuntimeException e) {
                    c.rollback();
                    throw new SQLException("schema migration " + m.version() + " (" + m.description() + ") failed: " + e.getMessage(), e);
                } finally {
                    c.setAutoCommit(true);
                }
            }
            return null;
        });
    }

    @Override
    public void close() {
        pool.close();
    }
}
