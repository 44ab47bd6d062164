package io.spillway.server.router;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import software.amazon.eventstream.HeaderValue;
import software.amazon.eventstream.Message;

/**
 * A local stand-in for Amazon Bedrock's runtime that speaks its wire protocol: Converse as JSON
 * over HTTP, ConverseStream as AWS event-stream binary frames (encoded by AWS's own eventstream
 * library), errors as Bedrock sends them ({@code x-amzn-ErrorType}). It answers
 * "bedrock: " + the last user message after a fixed latency, and can throttle or fail on demand.
 */
public final class FakeBedrock implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A request as the fake received it. */
    public record Received(String modelId, boolean stream, JsonNode body) {
    }

    private final HttpServer server;
    public final List<Received> received = new CopyOnWriteArrayList<>();
    final AtomicInteger calls = new AtomicInteger();
    private volatile long latencyMillis;
    private volatile int failStatus;
    private final AtomicInteger failuresLeft = new AtomicInteger();
    private volatile String reply;
    private volatile int pieceChars;

    /** Answers {@code text} instead of echoing, streamed in pieces of {@code pieceChars} characters (0: at spaces). */
    public void reply(String text, int pieceChars) {
        this.reply = text;
        this.pieceChars = pieceChars;
    }

    /**
     * Credentials for the SDK's standard chain (system properties come first in it); the fake
     * ignores signatures, but the SDK will not sign without them.
     */
    public static void installTestCredentials() {
        System.setProperty("aws.accessKeyId", "AKIDEXAMPLE");
        System.setProperty("aws.secretAccessKey", "secret");
    }

    public FakeBedrock(long latencyMillis) throws IOException {
        this.latencyMillis = latencyMillis;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 512);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/model/", this::handle);
        server.start();
    }

    public String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** The next {@code count} calls fail with {@code status} (429 throttles, 5xx fails); count < 0 means until told otherwise. */
    void failNext(int count, int status) {
        failStatus = status;
        failuresLeft.set(count);
    }

    void recover() {
        failuresLeft.set(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        calls.incrementAndGet();
        try (ex) {
            String path = ex.getRequestURI().getRawPath();
            String rest = path.substring("/model/".length());
            int slash = rest.lastIndexOf('/');
            String modelId = URLDecoder.decode(rest.substring(0, slash), StandardCharsets.UTF_8);
            String op = rest.substring(slash + 1);
            JsonNode body = JSON.readTree(ex.getRequestBody().readAllBytes());
            int left = failuresLeft.get();
            if (left != 0) {
                if (left > 0) {
                    failuresLeft.decrementAndGet();
                }
                error(ex, failStatus);
                return;
            }
            boolean stream = op.equals("converse-stream");
            received.add(new Received(modelId, stream, body));
            sleep(latencyMillis);
            String answer = reply != null ? reply : "bedrock: " + lastUserText(body);
            int inputTokens = body.toString().length() / 4;
            int outputTokens = answer.split(" ").length;
            if (!stream) {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("output", Map.of("message", Map.of("role", "assistant", "content", List.of(Map.of("text", answer)))));
                out.put("stopReason", "end_turn");
                out.put("usage", Map.of("inputTokens", inputTokens, "outputTokens", outputTokens, "totalTokens", inputTokens + outputTokens));
                out.put("metrics", Map.of("latencyMs", latencyMillis));
                byte[] bytes = JSON.writeValueAsBytes(out);
                ex.getResponseHeaders().set("Content-Type", "application/json");
                ex.sendResponseHeaders(200, bytes.length);
                ex.getResponseBody().write(bytes);
                return;
            }
            ex.getResponseHeaders().set("Content-Type", "application/vnd.amazon.eventstream");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            event(out, "messageStart", Map.of("role", "assistant"));
            int size = pieceChars;
            List<String> pieces = new java.util.ArrayList<>();
            if (size > 0) {
                for (int i = 0; i < answer.length(); i += size) {
                    pieces.add(answer.substring(i, Math.min(answer.length(), i + size)));
                }
            } else {
                pieces.addAll(List.of(answer.split("(?<= )")));
            }
            for (String piece : pieces) {
                event(out, "contentBlockDelta", Map.of("contentBlockIndex", 0, "delta", Map.of("text", piece)));
            }
            event(out, "contentBlockStop", Map.of("contentBlockIndex", 0));
            event(out, "messageStop", Map.of("stopReason", "end_turn"));
            event(out, "metadata", Map.of("usage", Map.of("inputTokens", inputTokens, "outputTokens", outputTokens,
                    "totalTokens", inputTokens + outputTokens), "metrics", Map.of("latencyMs", latencyMillis)));
        }
    }

    private static void event(OutputStream out, String type, Object payload) throws IOException {
        Map<String, HeaderValue> headers = new LinkedHashMap<>();
        headers.put(":message-type", HeaderValue.fromString("event"));
        headers.put(":event-type", HeaderValue.fromString(type));
        headers.put(":content-type", HeaderValue.fromString("application/json"));
        new Message(headers, JSON.writeValueAsBytes(payload)).encode(out);
        out.flush();
    }

    private static void error(HttpExchange ex, int status) throws IOException {
        String type = status == 429 ? "ThrottlingException" : status == 503 ? "ServiceUnavailableException" : "InternalServerException";
        byte[] bytes = JSON.writeValueAsBytes(Map.of("message", type + " from the fake"));
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.getResponseHeaders().set("x-amzn-ErrorType", type);
        ex.sendResponseHeaders(status, bytes.length);
        ex.getResponseBody().write(bytes);
    }

    private static String lastUserText(JsonNode body) {
        String text = "";
        for (JsonNode m : body.path("messages")) {
            if (m.path("role").asText().equals("user")) {
                StringBuilder sb = new StringBuilder();
                m.path("content").forEach(c -> sb.append(c.path("text").asText()));
                text = sb.toString();
            }
        }
        return text;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
