package io.spillway.server.platform.keys;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.spillway.vectors.storage.OwnerOnly;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The platform's database: keys, and spend against budgets. SQLite in a local file by default (no
 * server to run, one replica); PostgreSQL when several replicas must share keys and budgets. The
 * SQL is the subset both speak (including {@code INSERT ... ON CONFLICT DO UPDATE}), so one store
 * serves both.
 */
public final class Database implements AutoCloseable {

    /** A unit of work on one connection. */
    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    private final HikariDataSource pool;
    private final String url;

    private Database(HikariDataSource pool, String url) {
        this.pool = pool;
        this.url = url;
    }

    /**
     * Opens (creating the schema if needed) the database at a JDBC URL: {@code jdbc:sqlite:FILE} or
     * {@code jdbc:postgresql://HOST/DB}.
     */
    public static Database open(String url, String user, String password) {
        HikariConfig c = new HikariConfig();
        c.setJdbcUrl(url);
        c.setPoolName("spillway-db");
        c.setConnectionTimeout(10_000);
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
        } else {
            throw new IllegalArgumentException("database.url must be jdbc:sqlite:FILE or jdbc:postgresql://HOST/DB, not " + url);
        }
        HikariDataSource pool;
        try {
            pool = new HikariDataSource(c);
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot open the database " + url + ": " + rootMessage(e), e);
        }
        Database db = new Database(pool, url);
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

    public <T> T run(Work<T> work) {
        try (Connection c = pool.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw new IllegalStateException("database " + url + ": " + e.getMessage(), e);
        }
    }

    private void migrate() {
        run(c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("""
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
                          revoked_at BIGINT)""");
                s.executeUpdate("""
                        CREATE TABLE IF NOT EXISTS key_spend (
                          key_id VARCHAR(32) NOT NULL,
                          period VARCHAR(7) NOT NULL,
                          cost_usd DOUBLE PRECISION NOT NULL,
                          prompt_tokens BIGINT NOT NULL,
                          completion_tokens BIGINT NOT NULL,
                          requests BIGINT NOT NULL,
                          PRIMARY KEY (key_id, period))""");
            }
            return null;
        });
    }

    @Override
    public void close() {
        pool.close();
    }
}
