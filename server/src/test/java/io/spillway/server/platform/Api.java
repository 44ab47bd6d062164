package io.spillway.server.platform;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.server.SpillwayServer;
import io.spillway.server.testing.TestServers;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Executors;

/** A plain HTTP client for platform tests: status, headers, JSON body, or a stream's joined content. */
final class Api {

    static final ObjectMapper JSON = new ObjectMapper();

    record Reply(int status, HttpResponse<String> raw, JsonNode json, String content) {
        String header(String name) {
            return raw.headers().firstValue(name).orElse(null);
        }
    }

    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .executor(Executors.newVirtualThreadPerTaskExecutor()).connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;

    Api(SpillwayServer server) {
        this.base = TestServers.baseUrl(server);
    }

    Reply post(String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        String type = r.headers().firstValue("content-type").orElse("");
        if (type.startsWith("text/event-stream")) {
            StringBuilder content = new StringBuilder();
            for (String line : r.body().split("\n")) {
                if (line.startsWith("data: {")) {
                    JsonNode chunk = JSON.readTree(line.substring(6));
                    for (JsonNode c : chunk.path("choices")) {
                        content.append(c.path("delta").path("content").asText(c.path("text").asText("")));
                    }
                }
            }
            return new Reply(r.statusCode(), r, null, content.toString());
        }
        JsonNode json = JSON.readTree(r.body());
        String content = json.path("choices").path(0).path("message").path("content").asText(null);
        return new Reply(r.statusCode(), r, json, content);
    }

    String get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    static String chat(String model, String text, String extra) {
        String fields = extra.contains("\"max_tokens\"") ? extra : "\"max_tokens\": 12" + (extra.isEmpty() ? "" : ", " + extra);
        return """
                {"model": "%s", "messages": [{"role": "user", "content": %s}], %s}"""
                .formatted(model, JSON.valueToTree(text).toString(), fields);
    }
}
