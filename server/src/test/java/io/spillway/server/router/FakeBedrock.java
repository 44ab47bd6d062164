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
 * "bedrock: " + the last user message after a fixed latency, or a scripted text and tool calls
 * ({@code toolUse} blocks), and can throttle or fail on demand. It records every request it
 * accepts, and refuses with a ValidationException the conversations Converse refuses: roles that
 * do not alternate from the user, tool blocks without a {@code toolConfig}, a tool result that
 * answers no call of the turn before, a forced tool that is not offered, a tool name or
 * description Converse does not take, an input schema that is not an object's.
 */
public final class FakeBedrock implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A request as the fake received it: parsed, and the exact bytes of its body. */
    public record Received(String modelId, boolean stream, JsonNode body, byte[] raw) {
    }

    private final HttpServer server;
    public final List<Received> received = new CopyOnWriteArrayList<>();
    /** The exact body of every request that arrived, including those the fake then failed or refused. */
    public final List<byte[]> arrived = new CopyOnWriteArrayList<>();
    final AtomicInteger calls = new AtomicInteger();
    private volatile long latencyMillis;
    private volatile int failStatus;
    private final AtomicInteger failuresLeft = new AtomicInteger();
    private volatile String reply;
    private volatile int pieceChars;
    private volatile List<ToolUse> toolUses = List.of();

    /** A call the fake's answer makes: a Converse {@code toolUse} block, its input as JSON text. */
    public record ToolUse(String id, String name, String input) {
    }

    /** Answers {@code text} instead of echoing, streamed in pieces of {@code pieceChars} characters (0: at spaces). */
    public void reply(String text, int pieceChars) {
        this.reply = text;
        this.pieceChars = pieceChars;
        this.toolUses = List.of();
    }

    /** Echoes ("bedrock: " + the last user message), streamed in pieces of {@code pieceChars} characters (0: at spaces). */
    public void echo(int pieceChars) {
        this.reply = null;
        this.pieceChars = pieceChars;
        this.toolUses = List.of();
    }

    /**
     * Answers with these calls after {@code text} (none when empty), stop reason tool_use. Streamed,
     * each call opens its content block with its id and name and then sends its input in pieces of
     * {@code pieceChars} characters, as Converse does.
     */
    public void replyWithTools(String text, int pieceChars, ToolUse... calls) {
        if (pieceChars <= 0) {
            throw new IllegalArgumentException("tool inputs stream in pieces of at least one character");
        }
        this.reply = text;
        this.pieceChars = pieceChars;
        this.toolUses = List.of(calls);
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
            byte[] raw = ex.getRequestBody().readAllBytes();
            arrived.add(raw);
            JsonNode body = JSON.readTree(raw);
            int left = failuresLeft.get();
            if (left != 0) {
                if (left > 0) {
                    failuresLeft.decrementAndGet();
                }
                error(ex, failStatus);
                return;
            }
            boolean stream = op.equals("converse-stream");
            String invalid = invalid(body);
            if (invalid != null) {
                validationError(ex, invalid);
                return;
            }
            received.add(new Received(modelId, stream, body, raw));
            sleep(latencyMillis);
            List<ToolUse> uses = toolUses;
            String answer = reply != null ? reply : uses.isEmpty() ? "bedrock: " + lastUserText(body) : "";
            int inputTokens = body.toString().length() / 4;
            int outputTokens = answer.split(" ").length + uses.stream().mapToInt(u -> u.input().length() / 4).sum();
            String stopReason = uses.isEmpty() ? "end_turn" : "tool_use";
            if (!stream) {
                List<Object> content = new java.util.ArrayList<>();
                if (!answer.isEmpty()) {
                    content.add(Map.of("text", answer));
                }
                for (ToolUse u : uses) {
                    content.add(Map.of("toolUse", Map.of("toolUseId", u.id(), "name", u.name(), "input", JSON.readTree(u.input()))));
                }
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("output", Map.of("message", Map.of("role", "assistant", "content", content)));
                out.put("stopReason", stopReason);
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
            int block = 0;
            if (!answer.isEmpty()) {
                for (String piece : pieces) {
                    event(out, "contentBlockDelta", Map.of("contentBlockIndex", block, "delta", Map.of("text", piece)));
                }
                event(out, "contentBlockStop", Map.of("contentBlockIndex", block++));
            }
            for (ToolUse u : uses) {
                event(out, "contentBlockStart", Map.of("contentBlockIndex", block,
                        "start", Map.of("toolUse", Map.of("toolUseId", u.id(), "name", u.name()))));
                for (int i = 0; i < u.input().length(); i += size) {
                    event(out, "contentBlockDelta", Map.of("contentBlockIndex", block,
                            "delta", Map.of("toolUse", Map.of("input", u.input().substring(i, Math.min(u.input().length(), i + size))))));
                }
                event(out, "contentBlockStop", Map.of("contentBlockIndex", block++));
            }
            event(out, "messageStop", Map.of("stopReason", stopReason));
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

    /** Why Converse would refuse this request body, or null. */
    private static String invalid(JsonNode body) {
        JsonNode messages = body.path("messages");
        boolean toolBlocks = false;
        String expected = "user";
        java.util.Set<String> previousCalls = java.util.Set.of();
        for (JsonNode m : messages) {
            String role = m.path("role").asText();
            if (!role.equals(expected)) {
                return "A conversation must alternate between user and assistant roles, starting with the user.";
            }
            java.util.Set<String> calls = new java.util.HashSet<>();
            for (JsonNode block : m.path("content")) {
                if (block.has("toolUse")) {
                    toolBlocks = true;
                    calls.add(block.path("toolUse").path("toolUseId").asText());
                }
                if (block.has("toolResult")) {
                    toolBlocks = true;
                    if (!previousCalls.contains(block.path("toolResult").path("toolUseId").asText())) {
                        return "A toolResult block's toolUseId must match a toolUse block of the previous turn.";
                    }
                }
            }
            previousCalls = calls;
            expected = role.equals("user") ? "assistant" : "user";
        }
        if (messages.isEmpty()) {
            return "A conversation must start with a user message.";
        }
        JsonNode config = body.path("toolConfig");
        if (toolBlocks && config.isMissingNode()) {
            return "The toolConfig field must be defined when using toolUse and toolResult content blocks.";
        }
        if (!config.isMissingNode()) {
            java.util.Set<String> names = new java.util.HashSet<>();
            for (JsonNode tool : config.path("tools")) {
                JsonNode spec = tool.path("toolSpec");
                String name = spec.path("name").asText();
                if (!name.matches("[a-zA-Z0-9_-]{1,64}")) {
                    return "toolSpec.name '" + name + "' must be 1 to 64 letters, digits, '_' or '-'.";
                }
                if (spec.has("description") && spec.path("description").asText().isEmpty()) {
                    return "toolSpec.description must be at least 1 character long.";
                }
                if (!spec.path("inputSchema").path("json").path("type").asText().equals("object")) {
                    return "The value at toolSpec.inputSchema.json.type must be one of the following: object.";
                }
                names.add(name);
            }
            if (names.isEmpty()) {
                return "toolConfig.tools must name at least one tool.";
            }
            JsonNode forced = config.path("toolChoice").path("tool");
            if (!forced.isMissingNode() && !names.contains(forced.path("name").asText())) {
                return "toolConfig.toolChoice.tool names a tool that toolConfig.tools does not define.";
            }
        }
        return null;
    }

    private static void validationError(HttpExchange ex, String message) throws IOException {
        byte[] bytes = JSON.writeValueAsBytes(Map.of("message", message));
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.getResponseHeaders().set("x-amzn-ErrorType", "ValidationException");
        ex.sendResponseHeaders(400, bytes.length);
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
