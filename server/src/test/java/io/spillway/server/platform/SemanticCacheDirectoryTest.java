package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.cli.SpillwayCli;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The semantic cache's scratch index under SIGKILL: a real server process (the CLI's serve, on this
 * test class path, with its own temporary directory) is killed twice. Nothing of the cache may be
 * left in the temporary directory, and what the first run left under the data directory must be
 * gone once the second has started.
 */
class SemanticCacheDirectoryTest {

    @TempDir
    Path tmp;

    /** Starts {@code spillway serve} and returns once it listens; its output is drained in the background. */
    private static Process serve(Path config, Path javaTmp, StringBuilder log) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-Xmx1g",
                "-Djava.io.tmpdir=" + javaTmp, "-cp", System.getProperty("java.class.path"), SpillwayCli.class.getName(),
                "serve", "--config", config.toString()).redirectErrorStream(true).start();
        CompletableFuture<Void> listening = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    synchronized (log) {
                        log.append(line).append('\n');
                    }
                    if (line.contains("http: listening on")) {
                        listening.complete(null);
                    }
                }
            } catch (IOException e) {
                listening.completeExceptionally(e);
            }
            listening.completeExceptionally(new IllegalStateException("the server exited before listening"));
        });
        try {
            listening.get(120, TimeUnit.SECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
            synchronized (log) {
                throw new IllegalStateException("the server did not start: " + e + "\n" + log, e);
            }
        }
        return p;
    }

    private static List<String> leftInTemp(Path javaTmp) throws IOException {
        try (Stream<Path> files = Files.list(javaTmp)) {
            return files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("spillway-semantic-cache")).toList();
        }
    }

    @Test
    void killedServersLeaveNothingInTheTemporaryDirectoryAndStartClean() throws Exception {
        Path javaTmp = Files.createDirectories(tmp.resolve("java-tmp"));
        Path data = tmp.resolve("data");
        Path config = tmp.resolve("spillway.yaml");
        Files.writeString(config, """
                server:
                  host: 127.0.0.1
                  port: 0
                engine:
                  kv-cache-bytes: 67108864
                collections:
                  data-dir: %s
                database:
                  url: jdbc:sqlite:%s
                audit:
                  dir: %s
                """.formatted(data, data.resolve("spillway.db"), data.resolve("audit")));
        Path cacheDir = data.resolve("semantic-cache");
        Path stale = cacheDir.resolve("left-by-a-killed-run");
        for (int run = 1; run <= 2; run++) {
            StringBuilder log = new StringBuilder();
            Process server = serve(config, javaTmp, log);
            // SIGKILL: no shutdown hook, no close().
            server.destroyForcibly();
            assertTrue(server.waitFor(30, TimeUnit.SECONDS));
            assertEquals(List.of(), leftInTemp(javaTmp), "run " + run + " killed");
            assertTrue(Files.isDirectory(cacheDir), "run " + run + ": the cache's index is under the data directory");
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(cacheDir)), "owner-only");
            assertFalse(Files.exists(stale), "run " + run + ": what an earlier run left is wiped at start");
            Files.writeString(stale, "stale");
        }
    }
}
