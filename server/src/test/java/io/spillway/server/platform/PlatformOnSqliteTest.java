package io.spillway.server.platform;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The platform's behaviour with keys and budgets in SQLite (the default). */
class PlatformOnSqliteTest extends PlatformApiTest {

    private final Path dir;

    PlatformOnSqliteTest() {
        try {
            dir = Files.createTempDirectory("spillway-sqlite");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    String databaseUrl() {
        return "jdbc:sqlite:" + dir.resolve("spillway.db");
    }
}
