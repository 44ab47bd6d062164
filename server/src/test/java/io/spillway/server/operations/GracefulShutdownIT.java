package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * SIGTERM to a real server process ({@code spillway serve} from the packaged jar, in its own JVM, as
 * the launcher and the container start it; run by failsafe after {@code package}): streams in flight either
 * finish within the grace period or end cleanly (a last chunk and [DONE]), nothing new is taken,
 * the process exits 0, and after a restart the vector index and the audit log are intact.
 */
class GracefulShutdownIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("http: listening on [0-9.]+:(\\d+)");

    private record Server(Process process, int port, StringBuilder log, CompletableFuture<Void> outputEnded) {
        String url(String path) {
            return "http://127.0.0.1:" + port + path;
        }
    }

    private static Server launch(Path config) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path jar = Path.of("target", "spillway-server.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar.toAbsolutePath() + " is missing: this test runs after package (mvn verify)");
        }
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-jar", jar.toString(),
                "serve", "--config", config.toString()).redirectErrorStream(true).start();
        StringBuilder log = new StringBuilder();
        CompletableFuture<Integer> port = new CompletableFuture<>();
        CompletableFuture<Void> outputEnded = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
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
            } catch (IOException | RuntimeException e) {
                synchronized (log) {
                    log.append("[reading the output failed: ").append(e).append("]\n");
                }
                port.completeExceptionally(e);
            } finally {
                outputEnded.complete(null);
            }
            port.completeExceptionally(new IOException("the server exited (" + p.onExit().join().exitValue() + ") before listening:\n"
                    + log));
        });
        try {
            return new Server(p, port.get(120, TimeUnit.SECONDS), log, outputEnded);
        } catch (Exception e) {
            p.destroyForcibly();
            throw new IllegalStateException("server did not start: " + e.getMessage() + "\n" + log, e);
        }
    }

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

    private HttpResponse<String> post(Server s, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(s.url(path))).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A streamed chat: its lines, read to the end (or until the connection drops). */
    private CompletableFuture<List<String>> stream(Server s, int maxTokens, CompletableFuture<Void> firstChunk) {
        String body = """
                {"model": "spillway-demo", "messages": [{"role": "user", "content": "tell a long story"}], "max_tokens": %d,
                 "ignore_eos": true, "stream": true}""".formatted(maxTokens);
        return http.sendAsync(HttpRequest.newBuilder(URI.create(s.url("/v1/chat/completions"))).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines())
                .thenApply(r -> {
                    List<String> lines = new ArrayList<>();
                    try (Stream<String> in = r.body()) {
                        in.forEach(line -> {
                            lines.add(line);
                            if (line.startsWith("data: {")) {
                                firstChunk.complete(null);
                            }
                        });
                    } catch (RuntimeException e) {
                        lines.add("BROKEN: " + e);
                    }
                    return lines;
                });
    }

    @Test
    void sigtermDrainsEndsStreamsCleanlyAndLosesNothing() throws Exception {
        Path data = Files.createTempDirectory("spillway-sigterm");
        Path config = data.resolve("spillway.yaml");
        Files.writeString(config, """
                server:
                  host: 127.0.0.1
                  port: 0
                  shutdown-grace-seconds: 3
                engine:
                  kv-cache-bytes: 67108864
                collections:
                  data-dir: %s
                database:
                  url: jdbc:sqlite:%s
                audit:
                  dir: %s
                """.formatted(data.resolve("collections"), data.resolve("spillway.db"), data.resolve("audit")));
        Server first = launch(config);
        try {
            assertEquals(200, post(first, "/v1/collections", "{\"name\": \"handbook\"}").statusCode());
            HttpResponse<String> added = post(first, "/v1/collections/handbook/documents", """
                    {"documents": [{"id": "travel", "text": "Hotels are reimbursed up to 180 euros per night."},
                                   {"id": "leave", "text": "Employees get 30 days of paid leave a year."}]}""");
            assertEquals(200, added.statusCode(), added.body());

            CompletableFuture<Void> longStarted = new CompletableFuture<>();
            CompletableFuture<Void> shortStarted = new CompletableFuture<>();
            CompletableFuture<List<String>> endless = stream(first, 2000, longStarted);   // far longer than the grace period
            CompletableFuture<List<String>> brief = stream(first, 24, shortStarted);       // finishes within it
            longStarted.get(60, TimeUnit.SECONDS);
            shortStarted.get(60, TimeUnit.SECONDS);

            long signalled = System.nanoTime();
            // SIGTERM through the process handle: Process.destroy() would also close our end of its output.
            first.process().toHandle().destroy();
            Thread.sleep(300);
            boolean refused;
            try {
                HttpResponse<String> late = post(first, "/v1/chat/completions", "{\"model\": \"spillway-demo\", \"messages\": []}");
                refused = late.statusCode() == 503;
            } catch (IOException e) {
                refused = true; // the listener is closed
            }
            assertTrue(refused, "no new work is taken once shutting down");

            List<String> endlessLines = endless.get(30, TimeUnit.SECONDS);
            List<String> briefLines = brief.get(30, TimeUnit.SECONDS);
            assertTrue(first.process().waitFor(30, TimeUnit.SECONDS), "the process exits");
            double seconds = (System.nanoTime() - signalled) / 1e9;
            first.outputEnded().get(10, TimeUnit.SECONDS);
            assertEquals(0, first.process().exitValue(), first.log().toString());
            assertTrue(seconds < 3 + 10, "within the grace period and a little more: " + seconds + " s");

            for (List<String> lines : List.of(endlessLines, briefLines)) {
                assertTrue(lines.stream().noneMatch(l -> l.startsWith("BROKEN")), "the stream ended cleanly: " + lines);
                assertEquals("data: [DONE]", lines.stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse(""));
                assertTrue(lines.stream().anyMatch(l -> l.contains("\"finish_reason\":\"")), "every choice is closed");
            }
            assertTrue(briefLines.stream().anyMatch(l -> l.contains("\"finish_reason\":\"length\"")), "the short one finished normally: " + briefLines);
            assertTrue(first.log().toString().contains("shutdown: complete"), first.log().toString());
        } finally {
            first.process().destroyForcibly();
        }

        Server second = launch(config);
        try {
            HttpResponse<String> found = post(second, "/v1/collections/handbook/query", "{\"text\": \"hotel budget\", \"top_k\": 2}");
            assertEquals(200, found.statusCode(), found.body());
            JsonNode hits = JSON.readTree(found.body()).path("data");
            assertEquals(2, hits.size(), found.body());
            assertEquals("travel", hits.get(0).path("document_id").asText(hits.get(0).path("id").asText()).replaceAll("#.*", ""),
                    found.body());
        } finally {
            second.process().toHandle().destroy();
            second.process().waitFor(30, TimeUnit.SECONDS);
        }
        List<JsonNode> records = new ArrayList<>();
        try (Stream<Path> files = Files.list(data.resolve("audit"))) {
            for (Path f : files.toList()) {
                String text = Files.readString(f);
                assertTrue(text.endsWith("\n"), "no torn last line in " + f);
                for (String line : text.split("\n")) {
                    records.add(JSON.readTree(line));
                }
            }
        }
        long chats = records.stream().filter(r -> r.path("endpoint").asText().equals("chat") && r.path("status").asInt() == 200).count();
        assertEquals(2, chats, "both streamed requests are in the audit log: " + records);
    }
}
