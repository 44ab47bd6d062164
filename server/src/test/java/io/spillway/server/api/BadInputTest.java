package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.testing.SharedData;
import io.spillway.server.SpillwayServer;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed and hostile requests: each must get the right status and an OpenAI error body that
 * validates against ErrorResponse, and the server must keep serving afterwards.
 */
class BadInputTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String M = "\"model\":\"spillway-demo\"";
    private static final String MSG = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
    private static SpillwayServer server;
    private static OpenApiSchemas schemas;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(Map.of("server.max-body-bytes", Integer.toString(8 << 20),
                "server.request-read-timeout-seconds", "1"));
        schemas = new OpenApiSchemas(SharedData.require("openai/openapi.json"));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static Arguments chat(String name, String body, int status, String param) {
        return Arguments.of(name, RawHttp.postJson("/v1/chat/completions", body), status, param);
    }

    private static Arguments completion(String name, String body, int status, String param) {
        return Arguments.of(name, RawHttp.postJson("/v1/completions", body), status, param);
    }

    static Stream<Arguments> badRequests() {
        List<Arguments> cases = new ArrayList<>();
        cases.add(chat("truncated JSON", "{\"model\":", 400, null));
        cases.add(chat("JSON array body", "[1,2,3]", 400, null));
        cases.add(chat("empty body", "", 400, null));
        cases.add(chat("trailing garbage", "{" + M + "," + MSG + "} extra", 400, null));
        cases.add(Arguments.of("invalid UTF-8", RawHttp.request("POST", "/v1/chat/completions", "application/json",
                concat("{\"model\":\"spillway-demo\",\"messages\":[{\"role\":\"user\",\"content\":\"".getBytes(StandardCharsets.UTF_8),
                        new byte[] {(byte) 0xC3, (byte) 0x28, (byte) 0xFF}, "\"}]}".getBytes(StandardCharsets.UTF_8))), 400, null));
        cases.add(chat("nesting 300 deep", "{" + M + ",\"x\":" + "[".repeat(300) + "]".repeat(300) + "}", 400, null));
        cases.add(chat("missing model", "{" + MSG + "}", 400, "model"));
        cases.add(chat("model is a number", "{\"model\":7," + MSG + "}", 400, "model"));
        cases.add(chat("unknown model", "{\"model\":\"gpt-4o\"," + MSG + "}", 404, "model"));
        cases.add(chat("missing messages", "{" + M + "}", 400, "messages"));
        cases.add(chat("messages not an array", "{" + M + ",\"messages\":\"hi\"}", 400, "messages"));
        cases.add(chat("messages empty", "{" + M + ",\"messages\":[]}", 400, "messages"));
        cases.add(chat("message without role", "{" + M + ",\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role"));
        cases.add(chat("unknown role", "{" + M + ",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "messages[0].role"));
        cases.add(chat("content is a number", "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages[0].content"));
        cases.add(chat("image content part", "{" + M + ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                + "\"image_url\":{\"url\":\"http://x\"}}]}]}", 400, "messages[0].content[0].type"));
        cases.add(chat("100,000 messages", "{" + M + ",\"messages\":[" + "{\"role\":\"user\",\"content\":\"x\"},".repeat(99_999)
                + "{\"role\":\"user\",\"content\":\"x\"}]}", 400, "messages"));
        cases.add(chat("max_tokens is a string", "{" + M + "," + MSG + ",\"max_tokens\":\"many\"}", 400, "max_tokens"));
        cases.add(chat("negative max_tokens", "{" + M + "," + MSG + ",\"max_tokens\":-5}", 400, "max_tokens"));
        cases.add(chat("max_tokens zero", "{" + M + "," + MSG + ",\"max_tokens\":0}", 400, "max_tokens"));
        cases.add(chat("huge max_tokens", "{" + M + "," + MSG + ",\"max_tokens\":99999999999999}", 400, "max_tokens"));
        cases.add(chat("max_tokens past the context", "{" + M + "," + MSG + ",\"max_tokens\":5000}", 400, "messages"));
        cases.add(chat("temperature is a string", "{" + M + "," + MSG + ",\"temperature\":\"hot\"}", 400, "temperature"));
        cases.add(chat("temperature too high", "{" + M + "," + MSG + ",\"temperature\":7}", 400, "temperature"));
        cases.add(chat("top_p zero", "{" + M + "," + MSG + ",\"top_p\":0}", 400, "top_p"));
        cases.add(chat("n zero", "{" + M + "," + MSG + ",\"n\":0}", 400, "n"));
        cases.add(chat("n too large", "{" + M + "," + MSG + ",\"n\":100000}", 400, "n"));
        cases.add(chat("presence_penalty out of range", "{" + M + "," + MSG + ",\"presence_penalty\":9}", 400, "presence_penalty"));
        cases.add(chat("logit_bias key not a token id", "{" + M + "," + MSG + ",\"logit_bias\":{\"hello\":1}}", 400, "logit_bias"));
        cases.add(chat("logit_bias value too large", "{" + M + "," + MSG + ",\"logit_bias\":{\"5\":1000}}", 400, "logit_bias"));
        cases.add(chat("stop has a number", "{" + M + "," + MSG + ",\"stop\":[\"a\",3]}", 400, "stop[1]"));
        cases.add(chat("stop has 100 strings", "{" + M + "," + MSG + ",\"stop\":[" + "\"s\",".repeat(99) + "\"s\"]}", 400, "stop"));
        cases.add(chat("seed is a string", "{" + M + "," + MSG + ",\"seed\":\"lucky\"}", 400, "seed"));
        cases.add(chat("stream is a string", "{" + M + "," + MSG + ",\"stream\":\"yes\"}", 400, "stream"));
        cases.add(chat("stream_options without stream", "{" + M + "," + MSG + ",\"stream_options\":{\"include_usage\":true}}", 400,
                "stream_options"));
        cases.add(chat("top_logprobs without logprobs", "{" + M + "," + MSG + ",\"top_logprobs\":2}", 400, "top_logprobs"));
        cases.add(chat("top_logprobs too many", "{" + M + "," + MSG + ",\"logprobs\":true,\"top_logprobs\":50}", 400, "top_logprobs"));
        cases.add(chat("json_schema response format without its schema", "{" + M + "," + MSG
                + ",\"response_format\":{\"type\":\"json_schema\"}}", 400, "response_format.json_schema"));
        cases.add(chat("json_schema with a keyword the grammar engine cannot enforce", "{" + M + "," + MSG
                + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":"
                + "{\"type\":\"object\",\"not\":{\"required\":[\"a\"]}}}}}", 400, "response_format"));
        cases.add(chat("required tool whose parameters the grammar engine cannot enforce", "{" + M + "," + MSG
                + ",\"tool_choice\":\"required\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                + "\"parameters\":{\"type\":\"object\",\"if\":{}}}}]}", 400, "tools"));
        cases.add(chat("named tool choice naming no tool", "{" + M + "," + MSG
                + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}},\"tools\":[{\"type\":"
                + "\"function\",\"function\":{\"name\":\"f\"}}]}", 400, "tool_choice"));
        cases.add(completion("missing prompt", "{" + M + "}", 400, "prompt"));
        cases.add(completion("prompt token id outside the vocabulary", "{" + M + ",\"prompt\":[1,2,99999]}", 400, "prompt"));
        cases.add(completion("prompt of mixed types", "{" + M + ",\"prompt\":[\"a\",{\"b\":1}]}", 400, "prompt[1]"));
        cases.add(completion("empty prompt array", "{" + M + ",\"prompt\":[]}", 400, "prompt"));
        cases.add(completion("suffix", "{" + M + ",\"prompt\":\"a\",\"suffix\":\"b\"}", 400, "suffix"));
        cases.add(Arguments.of("tokenize with nothing to tokenize", RawHttp.postJson("/tokenize", "{}"), 400, "prompt"));
        cases.add(Arguments.of("detokenize bad ids", RawHttp.postJson("/detokenize", "{\"tokens\":[1,-4]}"), 400, "tokens"));
        cases.add(Arguments.of("unknown endpoint", RawHttp.postJson("/v1/fine_tuning/jobs", "{}"), 404, null));
        cases.add(Arguments.of("wrong method", RawHttp.request("GET", "/v1/chat/completions", null, null), 405, null));
        cases.add(Arguments.of("embeddings before there is an embedding model",
                RawHttp.postJson("/v1/embeddings", "{\"model\":\"text-embedding-3-small\",\"input\":\"x\"}"), 404, "model"));
        cases.add(Arguments.of("10 MB body", RawHttp.postJson("/v1/chat/completions", "{\"pad\":\"" + "x".repeat(10 << 20) + "\"}"),
                413, null));
        cases.add(Arguments.of("request line of 20 kB", RawHttp.request("GET", "/v1/models?q=" + "a".repeat(20_000), null, null), 414, null));
        cases.add(Arguments.of("headers of 40 kB", RawHttp.request("GET", "/v1/models", null, null, "X-Big: " + "b".repeat(40_000)),
                431, null));
        cases.add(Arguments.of("not HTTP at all", "GARBAGE\r\n\r\n".getBytes(StandardCharsets.US_ASCII), 400, null));
        return cases.stream();
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badRequests")
    void answeredWithTheRightStatusAndAnOpenAiError(String name, byte[] request, int status, String param) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            RawHttp.Response r = http.send(request).read();
            assertEquals(status, r.status(), name + ": " + r.body());
            assertError(r, param, name);
        }
        serverStillServes();
    }

    @Test
    void thereAreAtLeastFortyHostileCases() {
        assertTrue(badRequests().count() >= 40);
    }

    @Test
    void unknownFieldsAreIgnored() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            RawHttp.Response r = http.send(RawHttp.postJson("/v1/chat/completions",
                    "{" + M + "," + MSG + ",\"max_tokens\":2,\"frobnicate\":{\"deep\":[1,2]},\"metadata\":{\"a\":\"b\"}}")).read();
            assertEquals(200, r.status(), r.body());
        }
    }

    @Test
    void headersTrickledByteByByteAreServedWhenTheyArriveInTime() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            RawHttp.Response r = http.trickle(RawHttp.request("GET", "/health", null, null), 2).read();
            assertEquals(200, r.status());
        }
    }

    @Test
    void headersTrickledTooSlowlyGetA408() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            long sent = System.nanoTime();
            http.send("GET /health HTTP/1.1\r\nHo".getBytes(StandardCharsets.US_ASCII));
            // The 408 comes when the 1 s read deadline passes; read() waits for it, up to the socket's 30 s.
            RawHttp.Response r = http.read();
            assertEquals(408, r.status());
            assertTrue((System.nanoTime() - sent) / 1e6 >= 500, "answered at the deadline, not at once");
            assertError(r, null, "slow headers");
            assertTrue(http.closedByServer());
        }
        serverStillServes();
    }

    @Test
    void aBodyShorterThanItsContentLengthGetsA408() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            http.send(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"
                    + M + "}").getBytes(StandardCharsets.UTF_8));
            RawHttp.Response r = http.read();
            assertEquals(408, r.status());
            assertError(r, null, "short body");
        }
        serverStillServes();
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            byte[] a = RawHttp.postJson("/v1/chat/completions", "{" + M + "," + MSG + ",\"max_tokens\":6}");
            byte[] b = RawHttp.request("GET", "/v1/models", null, null);
            byte[] c = RawHttp.postJson("/v1/completions", "{" + M + ",\"prompt\":\"x\",\"max_tokens\":-1}");
            http.send(concat(a, b, c));
            RawHttp.Response ra = http.read();
            RawHttp.Response rb = http.read();
            RawHttp.Response rc = http.read();
            assertEquals(200, ra.status());
            assertTrue(ra.body().contains("chat.completion"));
            assertEquals(200, rb.status());
            assertTrue(rb.body().contains("\"object\":\"list\""));
            assertEquals(400, rc.status());
        }
    }

    @Test
    void theErrorSchemaCheckIsNotVacuous() {
        assertFalse(schemas.errors("ErrorResponse", "{\"error\":{\"message\":\"x\"}}").isEmpty(), "type, param and code are required");
        assertFalse(schemas.errors("CreateChatCompletionResponse", "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,"
                + "\"model\":\"m\",\"choices\":[{\"index\":0,\"finish_reason\":\"banana\",\"logprobs\":null,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"x\",\"refusal\":null}}]}").isEmpty(), "finish_reason is an enum");
    }

    private static void assertError(RawHttp.Response r, String param, String name) throws Exception {
        assertTrue(r.header("content-type").startsWith("application/json"), name);
        assertEquals(List.of(), schemas.errors("ErrorResponse", r.body()), name + ": " + r.body());
        JsonNode error = JSON.readTree(r.body()).get("error");
        assertFalse(error.get("message").asText().isBlank());
        if (param != null) {
            assertEquals(param, error.get("param").asText(), name + ": " + r.body());
        }
        assertFalse(r.body().contains("Exception") || r.body().contains("\tat "), "no stack trace: " + r.body());
    }

    private static void serverStillServes() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            RawHttp.Response ok = http.send(RawHttp.postJson("/v1/chat/completions", "{" + M + "," + MSG + ",\"max_tokens\":3}")).read();
            assertEquals(200, ok.status(), ok.body());
        }
    }
}
