package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import io.spillway.models.testing.SharedData;
import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code /v1/embeddings} with the built-in all-MiniLM-L6-v2: the OpenAI SDK through the schema proxy, and bad input. */
class EmbeddingsApiTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static SpillwayServer server;
    private static SchemaCheckingProxy proxy;
    private static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(Map.of("embeddings.model", "builtin"));
        proxy = new SchemaCheckingProxy(new OpenApiSchemas(SharedData.require("openai/openapi.json")));
        client = proxy.client(TestServers.baseUrl(server) + "/v1", "unused");
    }

    @AfterAll
    static void stop() {
        if (proxy != null) {
            proxy.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @AfterEach
    void responsesMatchOpenAisSchemas() {
        assertEquals(List.of(), proxy.violations());
    }

    private static JsonNode post(String path, String body, int expectedStatus) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            RawHttp.Response r = http.send(RawHttp.postJson(path, body)).read();
            assertEquals(expectedStatus, r.status(), r.body());
            return JSON.readTree(r.body());
        }
    }

    @Test
    void theSdkEmbedsStringsAndTokenIds() {
        CreateEmbeddingResponse one = client.embeddings().create(EmbeddingCreateParams.builder()
                .model("all-MiniLM-L6-v2").input("The quick brown fox").build());
        assertEquals(1, one.data().size());
        List<Float> v = one.data().get(0).embedding();
        assertEquals(384, v.size());
        double norm = 0;
        for (float x : v) {
            norm += x * x;
        }
        assertEquals(1.0, Math.sqrt(norm), 1e-4);
        assertEquals("all-MiniLM-L6-v2", one.model());
        assertTrue(one.usage().promptTokens() >= 6, "[CLS] + 4 words + [SEP]");

        CreateEmbeddingResponse many = client.embeddings().create(EmbeddingCreateParams.builder()
                .model("all-MiniLM-L6-v2").inputOfArrayOfStrings(List.of("first", "second", "third")).build());
        assertEquals(List.of(0L, 1L, 2L), many.data().stream().map(d -> d.index()).toList());

        // [CLS] hello world [SEP] in BERT's vocabulary, given as ids.
        CreateEmbeddingResponse ids = client.embeddings().create(EmbeddingCreateParams.builder()
                .model("all-MiniLM-L6-v2").inputOfArrayOfTokens(List.of(101L, 7592L, 2088L, 102L)).build());
        CreateEmbeddingResponse text = client.embeddings().create(EmbeddingCreateParams.builder()
                .model("all-MiniLM-L6-v2").input("hello world").build());
        for (int i = 0; i < 384; i++) {
            assertEquals(text.data().get(0).embedding().get(i), ids.data().get(0).embedding().get(i), 1e-5f);
        }
    }

    @Test
    void base64IsLittleEndianFloat32OfTheSameVector() throws Exception {
        JsonNode f = post("/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"base64 check\"}", 200);
        JsonNode b = post("/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"base64 check\",\"encoding_format\":\"base64\"}", 200);
        ByteBuffer buf = ByteBuffer.wrap(Base64.getDecoder().decode(b.at("/data/0/embedding").asText())).order(ByteOrder.LITTLE_ENDIAN);
        float[] decoded = new float[384];
        float[] floats = new float[384];
        for (int i = 0; i < 384; i++) {
            decoded[i] = buf.getFloat();
            floats[i] = (float) f.at("/data/0/embedding/" + i).asDouble();
        }
        assertArrayEquals(floats, decoded, 1e-7f);
    }

    @Test
    void listsTheEmbeddingModelBesideTheChatModel() throws Exception {
        List<String> ids = client.models().list().data().stream().map(m -> m.id()).toList();
        assertEquals(List.of(DemoModel.NAME, "all-MiniLM-L6-v2"), ids);
        assertEquals("all-MiniLM-L6-v2", client.models().retrieve("all-MiniLM-L6-v2").id());
    }

    @Test
    void badInputGetsOpenAiErrors() throws Exception {
        String m = "\"model\":\"all-MiniLM-L6-v2\"";
        assertEquals("input", post("/v1/embeddings", "{" + m + "}", 400).at("/error/param").asText());
        assertEquals("input", post("/v1/embeddings", "{" + m + ",\"input\":\"\"}", 400).at("/error/param").asText());
        assertEquals("input", post("/v1/embeddings", "{" + m + ",\"input\":[]}", 400).at("/error/param").asText());
        assertEquals("input", post("/v1/embeddings", "{" + m + ",\"input\":[1, 99999999]}", 400).at("/error/param").asText());
        assertEquals("input[0]", post("/v1/embeddings", "{" + m + ",\"input\":[{\"a\":1}]}", 400).at("/error/param").asText());
        assertEquals("encoding_format", post("/v1/embeddings", "{" + m + ",\"input\":\"x\",\"encoding_format\":\"int8\"}", 400)
                .at("/error/param").asText());
        assertEquals("dimensions", post("/v1/embeddings", "{" + m + ",\"input\":\"x\",\"dimensions\":256}", 400).at("/error/param").asText());
        JsonNode chat = post("/v1/embeddings", "{\"model\":\"" + DemoModel.NAME + "\",\"input\":\"x\"}", 400);
        assertTrue(chat.at("/error/message").asText().contains("all-MiniLM-L6-v2"), chat.toString());
        assertEquals("model_not_found", post("/v1/embeddings", "{\"model\":\"nope\",\"input\":\"x\"}", 404).at("/error/code").asText());
        // Long input is truncated to the model's window, not refused.
        JsonNode longOne = post("/v1/embeddings", "{" + m + ",\"input\":\"" + "word ".repeat(3000) + "\"}", 200);
        assertEquals(256, longOne.at("/usage/prompt_tokens").asInt());
        // The server is still fine.
        post("/v1/embeddings", "{" + m + ",\"input\":\"still alive\"}", 200);
    }
}
