package io.spillway.server.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code spillway serve} process (this test class path, its own JVM), as a replica runs: its
 * configuration in a file, its output kept, SIGTERM and SIGKILL as an orchestrator sends them, and a
 * plain HTTP client on loopback.
 */
public final class ServerProcess implements AutoCloseable {

    private static final Pattern LISTENING = Pattern.compile("http: listening on [0-9.]+:(\\d+)");
    public static final ObjectMapper JSON = new ObjectMapper();

    /** An answer: status, Retry-After and cache headers, the body as JSON (null when it is not JSON). */
    public record Reply(int status, JsonNode json, String body, HttpResponse<String> raw) {
        public String header(String name) {
            return raw.headers().firstValue(name).orElse(null);
        }
    }

    private final String name;
    private final Process process;
    private final int port;
    private final StringBuilder log;
    private final long startedInNanos;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .executor(Executors.newVirtualThreadPerTaskExecutor()).connectTimeout(Duration.ofSeconds(5)).build();

    private ServerProcess(String name, Process process, int port, StringBuilder log, long startedInNanos) {
        this.name = name;
        this.process = process;
        this.port = port;
        this.log = log;
        this.startedInNanos = startedInNanos;
    }

    /** Starts a server with {@code yaml} as its configuration file and returns once it listens. */
    public static ServerProcess start(String name, Path dir, String yaml) throws IOException {
        Files.createDirectories(dir);
        Path config = dir.resolve(name + ".yaml");
        Files.writeString(config, yaml);
        String java = ProcessHandle.current().info().command().orElse("java");
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true", "-Xmx1g", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), SpillwayCli.class.getName(), "serve", "--config",
                config.toString()).redirectErrorStream(true).start();
        StringBuilder log = new StringBuilder();
        CompletableFuture<Integer> port = new CompletableFuture<>();
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
            } catch (IOException e) {
                port.completeExceptionally(e);
            }
            port.completeExceptionally(new IllegalStateException("the server exited before listening"));
        });
        try {
            int listening = port.get(180, TimeUnit.SECONDS);
            return new ServerProcess(name, p, listening, log, System.nanoTime() - t0);
        } catch (Exception e) {
            p.destroyForcibly();
            synchronized (log) {
                throw new IllegalStateException(name + " did not start: " + e + "\n" + log, e);
            }
        }
    }

    public String name() {
        return name;
    }

    /** How long it took from launch to listening (loading, and for the database store, catching up). */
    public Duration startup() {
        return Duration.ofNanos(startedInNanos);
    }

    public String log() {
        synchronized (log) {
            return log.toString();
        }
    }

    public String url(String path) {
        return "http://127.0.0.1:" + port + path;
    }

    public Reply post(String path, String body) throws IOException, InterruptedException {
        return post(path, body, null);
    }

    public Reply post(String path, String body, String key) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        return send(b, key);
    }

    public Reply get(String path, String key) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60)).GET(), key);
    }

    public Reply delete(String path, String key) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(URI.create(url(path))).timeout(Duration.ofSeconds(60)).DELETE(), key);
    }

    private Reply send(HttpRequest.Builder b, String key) throws IOException, InterruptedException {
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode json = null;
        try {
            json = JSON.readTree(r.body());
        } catch (IOException notJson) {
            // Metrics, or an empty body.
        }
        return new Reply(r.statusCode(), json, r.body(), r);
    }

    /** A Prometheus sample of this server's /metrics, or -1 when it has none. */
    public double metric(String sample) throws IOException, InterruptedException {
        for (String line : get("/metrics", null).body().split("\n")) {
            if (line.startsWith(sample + " ")) {
                return Double.parseDouble(line.substring(sample.length() + 1).trim());
            }
        }
        return -1;
    }

    /** SIGTERM, then waits for the exit: a graceful stop. */
    public int stop() throws InterruptedException {
        process.toHandle().destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException(name + " did not stop within 60 s of SIGTERM:\n" + log());
        }
        return process.exitValue();
    }

    /** SIGKILL: no shutdown hook, nothing flushed, as a crash or an OOM kill. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    public boolean alive() {
        return process.isAlive();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
