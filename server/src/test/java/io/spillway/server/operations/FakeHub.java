package io.spillway.server.operations;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A stand-in for the Hugging Face Hub on loopback, speaking the parts of its protocol a download
 * uses: the revision API, {@code resolve} URLs answering small files directly (ETag: the git blob
 * SHA-1) and LFS files with a redirect to a CDN (X-Linked-Etag: their SHA-256, X-Linked-Size), a CDN
 * that honours Range requests, a gated repository that needs a token, and, on demand, one transfer
 * cut off part way.
 */
final class FakeHub implements AutoCloseable {

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String TOKEN = "hf_test_token";

    private final HttpServer server;
    /** The CDN is another origin, as the Hub's is: a client must not send it the token. */
    private final HttpServer cdn;
    private final String repo;
    private final Map<String, byte[]> files = new LinkedHashMap<>();
    private final Map<String, String> lfsBySha = new LinkedHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();
    final AtomicBoolean cutNextTransfer = new AtomicBoolean();

    FakeHub(String repo, Map<String, Path> content) throws Exception {
        this.repo = repo;
        for (Map.Entry<String, Path> e : content.entrySet()) {
            files.put(e.getKey(), Files.readAllBytes(e.getValue()));
            if (e.getKey().endsWith(".safetensors")) {
                lfsBySha.put(sha("SHA-256", null, files.get(e.getKey())), e.getKey());
            }
        }
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
        cdn = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        cdn.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        cdn.createContext("/", this::handle);
        cdn.start();
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    static String sha(String algorithm, byte[] prefix, byte[] data) throws Exception {
        MessageDigest md = MessageDigest.getInstance(algorithm);
        if (prefix != null) {
            md.update(prefix);
        }
        return HexFormat.of().formatHex(md.digest(data));
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            String range = ex.getRequestHeaders().getFirst("Range");
            requests.add(ex.getRequestMethod() + " " + path + (range == null ? "" : " " + range) + (auth == null ? "" : " [token]"));
            if (path.startsWith("/cdn/")) {
                cdn(ex, path.substring(5), range);
                return;
            }
            if (!("Bearer " + TOKEN).equals(auth)) {
                send(ex, 401, "{\"error\": \"Access to model " + repo + " is restricted. You must have access to it and be authenticated.\"}");
                return;
            }
            if (path.equals("/api/models/" + repo + "/revision/main")) {
                StringBuilder siblings = new StringBuilder();
                for (String f : List.of("README.md", "pytorch_model.bin")) {
                    siblings.append("{\"rfilename\": \"").append(f).append("\"},");
                }
                for (String f : files.keySet()) {
                    siblings.append("{\"rfilename\": \"").append(f).append("\"},");
                }
                send(ex, 200, "{\"id\": \"" + repo + "\", \"sha\": \"" + COMMIT + "\", \"siblings\": ["
                        + siblings.substring(0, siblings.length() - 1) + "]}");
                return;
            }
            String prefix = "/" + repo + "/resolve/" + COMMIT + "/";
            if (path.startsWith(prefix) && files.containsKey(path.substring(prefix.length()))) {
                String name = path.substring(prefix.length());
                byte[] data = files.get(name);
                if (name.endsWith(".safetensors")) {
                    String sha = sha("SHA-256", null, data);
                    ex.getResponseHeaders().set("Location", "http://127.0.0.1:" + cdn.getAddress().getPort() + "/cdn/" + sha);
                    ex.getResponseHeaders().set("X-Linked-Etag", "\"" + sha + "\"");
                    ex.getResponseHeaders().set("X-Linked-Size", Long.toString(data.length));
                    ex.getResponseHeaders().set("X-Repo-Commit", COMMIT);
                    ex.sendResponseHeaders(302, -1);
                    return;
                }
                ex.getResponseHeaders().set("ETag", "\"" + sha("SHA-1", ("blob " + data.length + "\0").getBytes(StandardCharsets.UTF_8), data) + "\"");
                if (ex.getRequestMethod().equals("HEAD")) {
                    ex.getResponseHeaders().set("Content-Length", Long.toString(data.length));
                    ex.sendResponseHeaders(200, -1);
                } else {
                    ex.sendResponseHeaders(200, data.length);
                    ex.getResponseBody().write(data);
                }
                return;
            }
            send(ex, 404, "{\"error\": \"not found\"}");
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    private void cdn(HttpExchange ex, String sha, String range) throws IOException {
        byte[] data = files.get(lfsBySha.get(sha));
        if (data == null) {
            send(ex, 404, "no such blob");
            return;
        }
        long from = 0;
        if (range != null && range.startsWith("bytes=")) {
            from = Long.parseLong(range.substring(6, range.indexOf('-')));
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (data.length - 1) + "/" + data.length);
            ex.sendResponseHeaders(206, data.length - from);
        } else {
            ex.sendResponseHeaders(200, data.length);
        }
        OutputStream out = ex.getResponseBody();
        if (cutNextTransfer.compareAndSet(true, false)) {
            // Part of the body, then the connection drops.
            out.write(data, (int) from, (int) ((data.length - from) * 2 / 5));
            out.flush();
            throw new IOException("cut");
        }
        out.write(data, (int) from, (int) (data.length - from));
    }

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        ex.getResponseBody().write(bytes);
    }

    @Override
    public void close() {
        server.stop(0);
        cdn.stop(0);
    }
}
