package io.spillway.server.platform.keys;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.spillway.server.testing.TestPostgres;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The schema's versioned migrations: run once, in order, adopted by databases from before versioning, safe to race. */
class DatabaseMigrationTest {

    @TempDir
    Path tmp;

    private static final int NEWEST = Database.MIGRATIONS.get(Database.MIGRATIONS.size() - 1).version();

    @Test
    void aDatabaseFromBeforeVersioningKeepsItsKeysAndGainsTheNewTables() throws Exception {
        String url = "jdbc:sqlite:" + tmp.resolve("old.db");
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            for (String sql : Database.MIGRATIONS.get(0).statements()) {
                s.executeUpdate(sql);
            }
            s.executeUpdate("INSERT INTO api_keys VALUES ('abc', 'h', 't', 'n', '', false, 1, 2, 3.0, false, '', false, 0, NULL)");
        }
        try (Database db = Database.open(url, "", "")) {
            assertEquals(NEWEST, db.schemaVersion());
            assertEquals(1, count(db, "api_keys"), "the key from before survives");
            assertEquals(0, count(db, "vector_collections"));
        }
        try (Database db = Database.open(url, "", "")) {
            assertEquals(Database.MIGRATIONS.size(), count(db, "schema_version"), "each migration recorded once, none run twice");
        }
    }

    @Test
    void replicasOpeningANewPostgresDatabaseTogetherMigrateItOnce() throws Exception {
        String url = TestPostgres.freshDatabase("migrations");
        try {
            List<Callable<Integer>> opens = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                opens.add(() -> {
                    try (Database db = Database.open(url, "", "")) {
                        return db.schemaVersion();
                    }
                });
            }
            try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
                for (Future<Integer> f : pool.invokeAll(opens)) {
                    assertEquals(NEWEST, f.get());
                }
            }
            try (Database db = Database.open(url, "", "")) {
                assertEquals(Database.MIGRATIONS.size(), count(db, "schema_version"));
            }
        } finally {
            TestPostgres.drop(url);
        }
    }

    private static int count(Database db, String table) {
        return db.run(c -> {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT COUNT(*) FROM " + table)) {
                r.next();
                return r.getInt(1);
            }
        });
    }
}
