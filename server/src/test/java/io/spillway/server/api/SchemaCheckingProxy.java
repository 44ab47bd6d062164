package io.spillway.server.api;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP proxy between the OpenAI SDK and Spillway that forwards every exchange unchanged and
 * validates what the SDK receives against OpenAI's OpenAPI description: each JSON body, and each
 * SSE chunk of a stream. Violations are collected for the test to assert on.
 */
public final class SchemaCheckingProxy implements AutoCloseable {

    private static final Set<String> HOP_HEADERS = Set.of("connection", "content-length", "transfer-encoding", "host", "keep-alive",
            "proxy-connection", "upgrade", "expect");

    private final HttpServer server;
    private final HttpClient upstream = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final OpenApiSchemas schemas;
    private final ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
    private final AtomicInteger validated = new AtomicInteger();

    public SchemaCheckingProxy(OpenApiSchemas schemas) throws IOException {
        this.schemas = schemas;
        this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::forward);
        server.start();
    }

    /** The official OpenAI client for {@code baseUrl}, sending everything through this proxy, no retries. */
    public com.openai.client.OpenAIClient client(String baseUrl, String apiKey) {
        return com.openai.client.okhttp.OpenAIOkHttpClient.builder()
                .baseUrl(baseUrl)
                .apiKey(apiKey)
                .proxy(proxy())
                .maxRetries(0)
                .responseValidation(true)
                .build();
    }

    public Proxy proxy() {
        return new Proxy(Proxy.Type.HTTP, server.getAddress());
    }

    public List<String> violations() {
        return List.copyOf(violations);
    }

    /** Bodies and chunks checked so far. */
    public int validated() {
        return validated.get();
    }

    private void forward(HttpExchange ex) throws IOException {
        try (ex) {
            URI target = ex.getRequestURI();
            byte[] body = ex.getRequestBody().readAllBytes();
            HttpRequest.Builder req = HttpRequest.newBuilder(target).method(ex.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(body));
            ex.getRequestHeaders().forEach((name, values) -> {
                if (!HOP_HEADERS.contains(name.toLowerCase())) {
                    values.forEach(v -> req.header(name, v));
                }
            });
            HttpResponse<InputStream> res;
            try {
                res = upstream.send(req.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(e);
            }
            res.headers().map().forEach((name, values) -> {
                if (!HOP_HEADERS.contains(name.toLowerCase()) && !name.startsWith(":")) {
                    values.forEach(v -> ex.getResponseHeaders().add(name, v));
                }
            });
            String path = target.getPath();
            boolean sse = res.headers().firstValue("content-type").orElse("").startsWith("text/event-stream");
            if (sse) {
                ex.sendResponseHeaders(res.statusCode(), 0);
                try (OutputStream out = ex.getResponseBody();
                     BufferedReader lines = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = lines.readLine()) != null) {
                        if (line.startsWith("data: ") && !line.equals("data: [DONE]")) {
                            check(chunkSchema(path, line.substring(6)), line.substring(6), path);
                        }
                        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                }
            } else {
                byte[] bytes = res.body().readAllBytes();
                String schema = res.statusCode() >= 400 ? "ErrorResponse" : bodySchema(path);
                if (schema != null) {
                    check(schema, new String(bytes, StandardCharsets.UTF_8), path);
                }
                ex.sendResponseHeaders(res.statusCode(), bytes.length == 0 ? -1 : bytes.length);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(bytes);
                }
            }
        }
    }

    private static String bodySchema(String path) {
        return switch (path) {
            case "/v1/chat/completions" -> "CreateChatCompletionResponse";
            case "/v1/completions" -> "CreateCompletionResponse";
            case "/v1/models" -> "ListModelsResponse";
            case "/v1/embeddings" -> "CreateEmbeddingResponse";
            default -> path.startsWith("/v1/models/") ? "Model" : null;
        };
    }

    private static String chunkSchema(String path, String data) {
        if (data.startsWith("{\"error\"")) {
            return "ErrorResponse";
        }
        // OpenAI streams legacy completions as CreateCompletionResponse-shaped chunks.
        return path.equals("/v1/chat/completions") ? "CreateChatCompletionStreamResponse" : "CreateCompletionResponse";
    }

    private void check(String schema, String json, String path) {
        validated.incrementAndGet();
        String checked = json;
        if (path.equals("/v1/completions") && json.contains("\"finish_reason\":null")) {
            // OpenAI's description has no schema for legacy completion stream chunks. Mid-stream
            // chunks carry finish_reason null, as OpenAI's API sends them; every other rule of
            // CreateCompletionResponse still applies.
            checked = json.replace("\"finish_reason\":null", "\"finish_reason\":\"length\"");
        }
        if (path.equals("/v1/embeddings") && checked.contains("\"embedding\":\"")) {
            // The description types embeddings as float arrays only, yet OpenAI's API (and every
            // SDK, which asks for it by default) sends encoding_format=base64 as a string. Check
            // that each string is base64 of float32s, then the rest of the shape as floats.
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"embedding\":\"([A-Za-z0-9+/=]*)\"").matcher(checked);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                byte[] raw = java.util.Base64.getDecoder().decode(m.group(1));
                if (raw.length % 4 != 0) {
                    violations.add(path + ": base64 embedding of " + raw.length + " bytes is not float32s");
                }
                m.appendReplacement(sb, "\"embedding\":[0.0]");
            }
            m.appendTail(sb);
            checked = sb.toString();
        }
        List<String> errors = schemas.errors(schema, checked);
        if (!errors.isEmpty()) {
            violations.add(path + " as " + schema + ": " + errors + " in " + json);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
