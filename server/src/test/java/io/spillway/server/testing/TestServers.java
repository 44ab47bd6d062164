package io.spillway.server.testing;

import io.spillway.server.SpillwayServer;
import io.spillway.server.config.ConfigLoader;
import io.spillway.server.engine.BatchRunner;
import java.time.Clock;
import java.util.Map;
import java.util.function.UnaryOperator;

/** Real servers on loopback for tests: the demo model on an ephemeral port, small KV cache. */
public final class TestServers {

    private TestServers() {
    }

    /** Starts a server with {@code overrides} (key path to value) over test-friendly defaults. */
    public static SpillwayServer start(Map<String, String> overrides) throws InterruptedException {
        return start(overrides, null);
    }

    /** As {@link #start(Map)}, with a YAML configuration file's content applied first (for lists such as router.models). */
    public static SpillwayServer start(Map<String, String> overrides, String yaml) throws InterruptedException {
        return start(overrides, yaml, UnaryOperator.identity());
    }

    /** As {@link #start(Map, String)}, the engine's batches run through {@code around} (a {@link FaultyDevice}). */
    public static SpillwayServer start(Map<String, String> overrides, String yaml, UnaryOperator<BatchRunner> around)
            throws InterruptedException {
        ConfigLoader loader = ConfigLoader.defaults();
        if (yaml != null) {
            try {
                java.nio.file.Path file = java.nio.file.Files.createTempFile("spillway-test", ".yaml");
                java.nio.file.Files.writeString(file, yaml);
                file.toFile().deleteOnExit();
                loader.file(file);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        loader
                .set("server.host", "127.0.0.1", "test")
                .set("server.port", "0", "test")
                .set("engine.kv-cache-bytes", Long.toString(64L << 20), "test")
                // Most tests exercise generation: they skip loading the embedding model unless they ask.
                .set("embeddings.model", "none", "test")
                .set("collections.data-dir", freshDataDir().toString(), "test")
                .set("database.url", "jdbc:sqlite:" + freshDataDir().resolve("spillway.db"), "test")
                .set("audit.dir", freshDataDir().resolve("audit").toString(), "test");
        overrides.forEach((k, v) -> loader.set(k, v, "test"));
        return SpillwayServer.start(loader.build(), Clock.systemUTC(), around);
    }

    private static java.nio.file.Path freshDataDir() {
        try {
            java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("spillway-test-data");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static SpillwayServer demo() throws InterruptedException {
        return start(Map.of());
    }

    public static String baseUrl(SpillwayServer server) {
        return "http://127.0.0.1:" + server.port();
    }
}
