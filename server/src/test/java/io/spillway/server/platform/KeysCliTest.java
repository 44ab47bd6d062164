package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.cli.SpillwayCli;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.platform.keys.KeyStore;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Clock;
import org.junit.jupiter.api.Test;

/** {@code spillway keys create|list|revoke} against a database file, as an operator runs them. */
class KeysCliTest {

    private record Run(int exit, String out) {
    }

    private static Run cli(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            int exit = SpillwayCli.execute(args);
            return new Run(exit, bytes.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    void createListRevoke() throws Exception {
        String url = "jdbc:sqlite:" + Files.createTempDirectory("spillway-keys").resolve("keys.db");
        Run created = cli("keys", "create", "--database-url", url, "--tenant", "acme", "--name", "ci", "--models", "a,b", "--local-only",
                "--rpm", "60", "--tpm", "10000", "--budget-usd", "25", "--pii", "redact");
        assertEquals(0, created.exit());
        // Logs go to stderr; a logging framework's own start-up notes may still reach stdout in tests.
        String secret = created.out().lines().filter(l -> l.startsWith("sk-spw-")).findFirst().orElse(created.out());
        assertTrue(secret.startsWith("sk-spw-"), secret);

        Run listed = cli("keys", "list", "--database-url", url);
        assertEquals(0, listed.exit());
        assertTrue(listed.out().contains("acme") && listed.out().contains("active") && listed.out().contains("a,b (local-only)"), listed.out());
        assertFalse(listed.out().contains(secret.substring(20)), "secrets are never listed");

        String id = secret.split("-")[2];
        try (Database db = Database.open(url, "", "")) {
            KeyStore store = new KeyStore(db, Clock.systemUTC());
            assertEquals(id, store.authenticate(secret).orElseThrow().id());
            assertEquals(25.0, store.authenticate(secret).orElseThrow().monthlyBudgetUsd());
            String stored = db.run(c -> {
                try (var s = c.createStatement(); var r = s.executeQuery("SELECT secret_hash FROM api_keys")) {
                    r.next();
                    return r.getString(1);
                }
            });
            assertFalse(stored.contains(secret.substring(20)), "only a hash of the key is stored");
            assertEquals(64, stored.length());
        }
        assertEquals(0, cli("keys", "revoke", "--database-url", url, id).exit());
        assertTrue(cli("keys", "list", "--database-url", url).out().contains("revoked"));
        assertEquals(2, cli("keys", "revoke", "--database-url", url, id).exit(), "revoking twice is a clear error");
        try (Database db = Database.open(url, "", "")) {
            assertTrue(new KeyStore(db, Clock.systemUTC()).authenticate(secret).isEmpty());
        }
    }
}
