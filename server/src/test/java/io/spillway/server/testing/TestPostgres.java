package io.spillway.server.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;

/**
 * The PostgreSQL of the test run ({@code SPILLWAY_TEST_POSTGRES_URL}, which {@code .ci/run} sets after
 * starting a throwaway server with {@code .ci/postgres}). In CI a missing database fails the test
 * rather than skipping it. Tests that need a database of their own (keys there change what every
 * server on it requires; shared caches and collections must not leak between tests) get a fresh one.
 */
public final class TestPostgres {

    private TestPostgres() {
    }

    /** The run's database URL; aborts the test outside CI when there is none, fails it in CI. */
    public static String url() {
        String url = System.getenv("SPILLWAY_TEST_POSTGRES_URL");
        if (url == null || url.isBlank()) {
            String ci = System.getenv("CI");
            if (ci != null && !ci.isBlank() && !ci.equals("false") && !ci.equals("0")) {
                fail("SPILLWAY_TEST_POSTGRES_URL is not set: .ci/run starts PostgreSQL and sets it");
            }
            Assumptions.abort("no PostgreSQL: run .ci/postgres start DIR and export SPILLWAY_TEST_POSTGRES_URL to include these tests");
        }
        return url;
    }

    /** A new, empty database on the run's server, named after {@code purpose}; returns its JDBC URL. */
    public static String freshDatabase(String purpose) {
        String base = url();
        String name = "spw_" + purpose.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9]", "_") + "_"
                + UUID.randomUUID().toString().substring(0, 8);
        try (Connection c = DriverManager.getConnection(base); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create a test database on " + base + ": " + e.getMessage(), e);
        }
        return withDatabase(base, name);
    }

    /** Drops a database {@link #freshDatabase} made (closing whatever is still connected to it). */
    public static void drop(String url) {
        String name = url.replaceAll("^jdbc:postgresql://[^/]+/([^?]+).*$", "$1");
        try (Connection c = DriverManager.getConnection(url()); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        } catch (SQLException e) {
            throw new IllegalStateException("cannot drop test database " + name + ": " + e.getMessage(), e);
        }
    }

    static String withDatabase(String url, String name) {
        return url.replaceAll("^(jdbc:postgresql://[^/]+/)[^?]+", "$1" + name);
    }
}
