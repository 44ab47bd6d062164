package io.spillway.server.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Debian's headless Chromium, driven over the Chrome DevTools Protocol (a WebSocket that Java's own
 * HTTP client speaks): open a page, evaluate JavaScript in it. Enough for a browser test without a
 * WebDriver.
 */
final class HeadlessChromium implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("DevTools listening on ws://127\\.0\\.0\\.1:(\\d+)/");

    private final Process process;
    private final Path profile;
    private final WebSocket page;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();

    /** The browser binary, if one is installed. */
    static Optional<Path> find() {
        for (String name : List.of("chromium", "chromium-browser", "google-chrome")) {
            for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) {
                    return Optional.of(p);
                }
            }
        }
        return Optional.empty();
    }

    HeadlessChromium(Path binary, String url) throws Exception {
        profile = Files.createTempDirectory("spillway-chromium");
        process = new ProcessBuilder(binary.toString(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                "--user-data-dir=" + profile, "about:blank").redirectErrorStream(true).start();
        int port = devToolsPort();
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> created = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/json/new?"
                + URLEncoder.encode(url, StandardCharsets.UTF_8))).PUT(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        String ws = JSON.readTree(created.body()).path("webSocketDebuggerUrl").asText();
        page = http.newWebSocketBuilder().buildAsync(URI.create(ws), new Listener()).get(30, TimeUnit.SECONDS);
    }

    private int devToolsPort() throws IOException {
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        String line;
        while ((line = out.readLine()) != null) {
            seen.append(line).append('\n');
            Matcher m = LISTENING.matcher(line);
            if (m.find()) {
                // Keep draining its output so the browser never blocks on a full pipe.
                Thread.ofVirtual().start(() -> out.lines().forEach(l -> { }));
                return Integer.parseInt(m.group(1));
            }
        }
        throw new IOException("Chromium exited without opening DevTools:\n" + seen);
    }

    /** Evaluates {@code expression} in the page (awaiting a promise) and returns its value as JSON. */
    JsonNode eval(String expression) throws Exception {
        int id = ids.incrementAndGet();
        ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", "Runtime.evaluate");
        msg.putObject("params").put("expression", expression).put("returnByValue", true).put("awaitPromise", true);
        CompletableFuture<JsonNode> reply = new CompletableFuture<>();
        pending.put(id, reply);
        page.sendText(msg.toString(), true).get(10, TimeUnit.SECONDS);
        JsonNode result = reply.get(30, TimeUnit.SECONDS);
        if (result.has("exceptionDetails")) {
            throw new IllegalStateException("page threw: " + result.get("exceptionDetails"));
        }
        return result.path("result").path("value");
    }

    private final class Listener implements WebSocket.Listener {
        private final StringBuilder partial = new StringBuilder();

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            partial.append(data);
            if (last) {
                try {
                    JsonNode message = JSON.readTree(partial.toString());
                    CompletableFuture<JsonNode> f = message.has("id") ? pending.remove(message.get("id").asInt()) : null;
                    if (f != null) {
                        f.complete(message.has("error") ? JSON.createObjectNode().set("exceptionDetails", message.get("error"))
                                : message.path("result"));
                    }
                } catch (IOException e) {
                    // Not JSON: nothing of ours.
                }
                partial.setLength(0);
            }
            ws.request(1);
            return null;
        }
    }

    @Override
    public void close() throws IOException {
        page.abort();
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        // Best effort: the browser's helper processes may still be writing their profile as it goes.
        try (var files = Files.walk(profile)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | java.io.UncheckedIOException e) {
            profile.toFile().deleteOnExit();
        }
    }
}
