package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.cli.SpillwayCli;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Everything a server writes (collections' logs and snapshots, which hold document text; the
 * semantic cache's index; audit files; the SQLite database with its -wal and -shm files) is for
 * its owner only, whatever the umask: a real server process is started under umask 000, used, and
 * stopped, and no file or directory it made may be open to group or others.
 */
class OwnerOnlyDataTest {

    private static final Pattern LISTENING = Pattern.compile("http: listening on [0-9.]+:(\\d+)");

    @TempDir
    Path tmp;

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static List<String> openToOthers(Path root) throws IOException {
        List<String> open = new ArrayList<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.toList()) {
                Set<PosixFilePermission> perms;
                try {
                    perms = Files.getPosixFilePermissions(p);
                } catch (java.nio.file.NoSuchFileException gone) {
                    continue; // a temporary file renamed away while walking
                }
                if (perms.stream().anyMatch(bit -> !bit.name().startsWith("OWNER_"))) {
                    open.add(root.getParent().relativize(p) + " " + PosixFilePermissions.toString(perms));
                }
            }
        }
        return open;
    }

    private static List<Path> find(Path root, Predicate<String> name) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            return all.filter(p -> name.test(p.getFileName().toString())).toList();
        }
    }

    private static void await(String what, Path root, Predicate<String> name) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (find(root, name).isEmpty()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what + " under " + root);
            Thread.sleep(50);
        }
    }

    private void post(int port, String path, String json) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), path + ": " + r.body());
    }

    @Test
    void nothingTheServerWritesIsOpenToOthersUnderUmask000() throws Exception {
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
                  snapshot-after-log-bytes: 4096
                database:
                  url: jdbc:sqlite:%s
                audit:
                  dir: %s
                """.formatted(data.resolve("collections"), data.resolve("keys").resolve("spillway.db"), data.resolve("audit")));
        String java = ProcessHandle.current().info().command().orElse("java");
        Process server = new ProcessBuilder("sh", "-c", "umask 000 && exec \"$0\" \"$@\"", java, "--enable-native-access=ALL-UNNAMED",
                "-Dai.djl.offline=true", "-Xmx1g", "-cp", System.getProperty("java.class.path"), SpillwayCli.class.getName(),
                "serve", "--config", config.toString()).redirectErrorStream(true).start();
        StringBuilder log = new StringBuilder();
        CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    synchronized (log) {
                        log.append(line).append('\n');
                    }
                    Matcher m = LISTENING.matcher(line);
                    if (m.find()) {
                        port.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (IOException e) {
                port.completeExceptionally(e);
            }
            port.completeExceptionally(new IllegalStateException("the server exited before listening"));
        });
        try {
            int p = port.get(120, TimeUnit.SECONDS);
            post(p, "/v1/collections", "{\"name\":\"handbook\"}");
            for (int i = 0; i < 4; i++) {
                post(p, "/v1/collections/handbook/documents", "{\"documents\":[{\"id\":\"d" + i + "\",\"text\":\""
                        + ("Confidential paragraph " + i + " of the handbook. ").repeat(40) + "\"}]}");
            }
            post(p, "/v1/chat/completions", "{\"model\":\"spillway-demo\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\","
                    + "\"content\":\"hello\"}],\"semantic_cache\":true}");
            await("a collection snapshot", data.resolve("collections"), n -> n.matches("snapshot-\\d+\\.bin"));
            await("an audit file", data.resolve("audit"), n -> n.endsWith(".jsonl"));
            await("the semantic cache's log", data.resolve("collections").resolve("semantic-cache"), n -> n.startsWith("wal-"));
            await("SQLite's write-ahead log", data.resolve("keys"), n -> n.endsWith("-wal"));
            assertEquals(List.of(), openToOthers(data), "while serving");
        } catch (Exception | AssertionError e) {
            synchronized (log) {
                throw new AssertionError(e.getMessage() + "\nserver log:\n" + log, e);
            }
        } finally {
            server.destroy();
            if (!server.waitFor(60, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
        assertEquals(List.of(), openToOthers(data), "after shutdown");
    }
}
