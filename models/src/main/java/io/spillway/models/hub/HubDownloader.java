package io.spillway.models.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gets a model directory from the Hugging Face Hub into the Hub's standard cache
 * ({@code models--org--name/blobs/<etag>}, {@code snapshots/<commit>/<file>} linking to the blobs,
 * {@code refs/<revision>} holding the commit), so what huggingface_hub downloaded is reused and what
 * Spillway downloads is theirs too. Only the files a model needs are fetched (config, weights,
 * tokenizer, generation config, chat template). Each file is verified against the Hub's checksum
 * (SHA-256 for LFS files, the git blob SHA-1 for the others); an interrupted download resumes from
 * its {@code .incomplete} file with an HTTP range request. Progress goes to the log every 10% and, on
 * a terminal, to a progress bar.
 */
public final class HubDownloader {

    private static final Logger LOG = LoggerFactory.getLogger(HubDownloader.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** What a model directory needs from a repository (weights in safetensors only). */
    private static final Pattern NEEDED = Pattern.compile(
            "(config\\.json|generation_config\\.json|tokenizer\\.json|tokenizer_config\\.json|special_tokens_map\\.json"
                    + "|chat_template\\.jinja|chat_template\\.json|model(-\\d+-of-\\d+)?\\.safetensors|model\\.safetensors\\.index\\.json)");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    private final HubSettings settings;
    private final HttpClient http;
    private final PrintStream terminal;

    /** @param terminal where to draw a progress bar, or null (logs only) */
    public HubDownloader(HubSettings settings, PrintStream terminal) {
        this.settings = settings;
        this.terminal = terminal;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(Duration.ofSeconds(20)).build();
    }

    /** The local snapshot directory of {@code model}, downloading what is missing unless offline. */
    public Path resolve(HubModel model) {
        Path repo = settings.cacheDir().resolve(model.cacheFolder());
        if (settings.offline()) {
            return cachedSnapshot(repo, model).orElseThrow(() -> new IllegalStateException("HF_HUB_OFFLINE is set and " + model
                    + " is not in the cache " + repo + "; download it once with network access"));
        }
        try {
            JsonNode info = getJson("/api/models/" + model.repo() + "/revision/" + encode(model.revision()) + "?blobs=true", model);
            String commit = info.path("sha").asText();
            if (!COMMIT.matcher(commit).matches()) {
                throw new IllegalStateException("the Hub's answer for " + model + " has no commit hash");
            }
            List<String> files = new ArrayList<>();
            for (JsonNode s : info.path("siblings")) {
                String name = s.path("rfilename").asText();
                if (NEEDED.matcher(name).matches()) {
                    files.add(name);
                }
            }
            if (!files.contains("config.json")) {
                throw new IllegalStateException(model + " has no config.json: not a transformers model repository");
            }
            if (files.stream().noneMatch(f -> f.endsWith(".safetensors"))) {
                throw new IllegalStateException(model + " has no safetensors weights (only those are loaded; convert .bin checkpoints first)");
            }
            Path snapshot = repo.resolve("snapshots").resolve(commit);
            for (String file : files) {
                fetch(model, repo, commit, snapshot, file);
            }
            if (!model.revision().equals(commit)) {
                Path ref = repo.resolve("refs").resolve(model.revision());
                Files.createDirectories(ref.getParent());
                Files.writeString(ref, commit);
            }
            LOG.info("hub: {} is at commit {} in {}", model, commit.substring(0, 12), snapshot);
            return snapshot;
        } catch (IOException e) {
            Optional<Path> cached = cachedSnapshot(repo, model);
            if (cached.isPresent()) {
                LOG.warn("hub: cannot reach {} ({}); using the cached snapshot {}", settings.endpoint(), e.getMessage(), cached.get());
                return cached.get();
            }
            throw new UncheckedIOException("cannot download " + model + " from " + settings.endpoint() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while downloading " + model, e);
        }
    }

    private Optional<Path> cachedSnapshot(Path repo, HubModel model) {
        String commit = model.revision();
        Path ref = repo.resolve("refs").resolve(model.revision());
        try {
            if (!COMMIT.matcher(commit).matches() && Files.isRegularFile(ref)) {
                commit = Files.readString(ref).strip();
            }
        } catch (IOException e) {
            return Optional.empty();
        }
        Path snapshot = repo.resolve("snapshots").resolve(commit);
        return Files.isRegularFile(snapshot.resolve("config.json")) ? Optional.of(snapshot) : Optional.empty();
    }

    private void fetch(HubModel model, Path repo, String commit, Path snapshot, String file) throws IOException, InterruptedException {
        Path link = snapshot.resolve(file);
        if (Files.exists(link)) {
            return;
        }
        String path = "/" + model.repo() + "/resolve/" + commit + "/" + file;
        HttpResponse<Void> head = http.send(request(path).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.discarding());
        check(head.statusCode(), model, file, 200, 302, 301, 307);
        // For LFS files the Hub redirects to its CDN and names the blob in X-Linked-Etag.
        String etag = unquote(head.headers().firstValue("x-linked-etag").or(() -> head.headers().firstValue("etag"))
                .orElseThrow(() -> new IOException("the Hub sent no ETag for " + file)));
        long size = head.headers().firstValue("x-linked-size").or(() -> head.headers().firstValue("content-length"))
                .map(Long::parseLong).orElse(-1L);
        String location = head.headers().firstValue("location").orElse(null);
        Path blob = repo.resolve("blobs").resolve(etag);
        Files.createDirectories(blob.getParent());
        if (!Files.exists(blob)) {
            download(location != null ? absolute(location) : URI.create(settings.endpoint() + path), blob, etag, size, file);
        }
        Files.createDirectories(link.getParent());
        try {
            Files.createSymbolicLink(link, link.getParent().relativize(blob));
        } catch (FileAlreadyExistsException e) {
            // Another process linked it first.
        } catch (UnsupportedOperationException | IOException e) {
            Files.copy(blob, link, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private void download(URI uri, Path blob, String etag, long size, String file) throws IOException, InterruptedException {
        Path partial = blob.resolveSibling(blob.getFileName() + ".incomplete");
        long have = Files.exists(partial) ? Files.size(partial) : 0;
        for (int attempt = 1; ; attempt++) {
            HttpRequest.Builder req = request(uri).GET();
            if (have > 0) {
                req.header("Range", "bytes=" + have + "-");
            }
            HttpResponse<InputStream> r = send(req.build());
            if (r.statusCode() == 200 && have > 0) {
                have = 0; // the server ignored the range: start over
            } else if (r.statusCode() == 206) {
                LOG.info("hub: resuming {} at {} MB", file, have >> 20);
            } else if (r.statusCode() == 416 && have == size) {
                r.body().close();
                break;
            } else if (r.statusCode() != 200) {
                r.body().close();
                throw new IOException("HTTP " + r.statusCode() + " downloading " + file);
            }
            try (InputStream in = r.body();
                 OutputStream out = Files.newOutputStream(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                         have > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                Progress progress = new Progress(file, size, have);
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) > 0) {
                    out.write(buf, 0, n);
                    have += n;
                    progress.update(have);
                }
                if (size > 0 && have < size) {
                    throw new IOException("the connection closed at " + have + " of " + size + " bytes");
                }
                progress.done();
                break;
            } catch (IOException e) {
                have = Files.exists(partial) ? Files.size(partial) : 0;
                if (attempt >= 5) {
                    throw new IOException("downloading " + file + " failed 5 times, last at " + have + " bytes: " + e.getMessage(), e);
                }
                LOG.warn("hub: {} interrupted at {} of {} bytes ({}); resuming", file, have, size, e.getMessage());
                Thread.sleep(Math.min(8000, 500L << attempt));
            }
        }
        verify(partial, etag, file);
        try {
            Files.move(partial, blob, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(partial, blob, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** SHA-256 for LFS blobs (64 hex digits), the git blob SHA-1 for small files (40). */
    private static void verify(Path file, String etag, String name) throws IOException {
        String actual;
        if (etag.length() == 64) {
            actual = digest("SHA-256", file, null);
        } else if (etag.length() == 40) {
            actual = digest("SHA-1", file, ("blob " + Files.size(file) + "\0").getBytes(StandardCharsets.UTF_8));
        } else {
            LOG.warn("hub: no checksum to verify {} against (ETag {})", name, etag);
            return;
        }
        if (!actual.equals(etag)) {
            Files.delete(file);
            throw new IOException(name + " is corrupt: its checksum is " + actual + ", the Hub says " + etag + "; deleted, retry");
        }
    }

    private static String digest(String algorithm, Path file, byte[] prefix) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance(algorithm);
            if (prefix != null) {
                md.update(prefix);
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) > 0) {
                    md.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private JsonNode getJson(String path, HubModel model) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
        check(r.statusCode(), model, "the repository", 200);
        return JSON.readTree(r.body());
    }

    private void check(int status, HubModel model, String what, int... ok) throws IOException {
        for (int s : ok) {
            if (status == s) {
                return;
            }
        }
        String hint = status == 401 || status == 403 ? " (a gated or private model: set HF_TOKEN to a token with access)"
                : status == 404 ? " (no such repository, revision or file)" : "";
        throw new IllegalStateException("the Hub answered HTTP " + status + " for " + what + " of " + model + hint);
    }

    private HttpResponse<InputStream> send(HttpRequest req) throws IOException, InterruptedException {
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        // Follow the CDN's redirects ourselves: the token must not travel to another host.
        for (int hops = 0; hops < 5 && (r.statusCode() == 301 || r.statusCode() == 302 || r.statusCode() == 307); hops++) {
            URI next = absolute(r.headers().firstValue("location").orElseThrow());
            r.body().close();
            HttpRequest.Builder b = HttpRequest.newBuilder(next).timeout(Duration.ofMinutes(30)).GET();
            req.headers().firstValue("Range").ifPresent(v -> b.header("Range", v));
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        }
        return r;
    }

    private HttpRequest.Builder request(String path) {
        return request(URI.create(settings.endpoint() + path));
    }

    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofMinutes(30)).header("User-Agent", "spillway");
        if (uri.toString().startsWith(settings.endpoint())) {
            settings.token().ifPresent(t -> b.header("Authorization", "Bearer " + t));
        }
        return b;
    }

    private URI absolute(String location) {
        return location.startsWith("http") ? URI.create(location) : URI.create(settings.endpoint() + location);
    }

    private static String unquote(String etag) {
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        return e.replace("\"", "");
    }

    private static String encode(String revision) {
        return URLEncoder.encode(revision, StandardCharsets.UTF_8);
    }

    /** Log lines every 10% and, on a terminal, a bar redrawn in place. */
    private final class Progress {
        private final String file;
        private final long total;
        private int lastDecile;
        private long lastDraw;

        Progress(String file, long total, long have) {
            this.file = file;
            this.total = total;
            this.lastDecile = total > 0 ? (int) (10 * have / total) : 0;
        }

        void update(long have) {
            if (total <= 0) {
                return;
            }
            int decile = (int) (10 * have / total);
            if (decile > lastDecile) {
                lastDecile = decile;
                LOG.info("hub: {} {}% ({} of {} MB)", file, decile * 10, String.format("%.1f", have / 1e6), String.format("%.1f", total / 1e6));
            }
            long now = System.nanoTime();
            if (terminal != null && now - lastDraw > 100_000_000L) {
                lastDraw = now;
                int width = 30;
                int filled = (int) (width * have / total);
                terminal.printf("\r%-40s [%s%s] %3d%%", file, "#".repeat(filled), " ".repeat(width - filled), 100 * have / total);
                terminal.flush();
            }
        }

        void done() {
            if (terminal != null && total > 0) {
                terminal.printf("\r%-40s [%s] 100%%%n", file, "#".repeat(30));
            }
        }
    }
}
