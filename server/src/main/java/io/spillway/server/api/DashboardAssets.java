package io.spillway.server.api;

import io.spillway.server.http.Exchange;
import io.spillway.server.wire.OpenAiException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The dashboard's static files, served from the jar ({@code /dashboard/…} in resources): plain HTML,
 * CSS and JavaScript with Chart.js vendored, so nothing is built or fetched at run time. It reads
 * only {@code /metrics} and, for the playground, the API itself (with the key the user types).
 */
final class DashboardAssets {

    static final String PREFIX = "/dashboard";
    private static final Map<String, String> TYPES = Map.of("html", "text/html; charset=utf-8", "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8", "md", "text/markdown; charset=utf-8");

    private final Map<String, byte[]> loaded = new ConcurrentHashMap<>();

    /** Serves {@code path} (under /dashboard) or answers 404. */
    void serve(Exchange ex) {
        String path = ex.path();
        if (path.equals(PREFIX)) {
            ex.respond(308, "text/plain", new byte[0], Map.of("Location", PREFIX + "/"));
            return;
        }
        String file = path.substring(PREFIX.length() + 1);
        if (file.isEmpty()) {
            file = "index.html";
        }
        if (!file.matches("[a-z0-9_-]+(/[a-z0-9_.-]+)*\\.(html|js|css|md)") || file.contains("..")) {
            throw OpenAiException.notFound("No dashboard file " + path + ".");
        }
        String name = file;
        byte[] bytes = loaded.computeIfAbsent(name, DashboardAssets::read);
        if (bytes.length == 0) {
            loaded.remove(name);
            throw OpenAiException.notFound("No dashboard file " + path + ".");
        }
        String type = TYPES.get(name.substring(name.lastIndexOf('.') + 1));
        ex.respond(200, type, bytes, Map.of("Cache-Control", "no-cache"));
    }

    private static byte[] read(String name) {
        try (InputStream in = DashboardAssets.class.getResourceAsStream(PREFIX + "/" + name)) {
            return in == null ? new byte[0] : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
