package io.spillway.server.rag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Documents in over HTTP, a question out: retrieval finds the document holding the answer and the
 * chat completion names it among its sources. Collections stay with the key that made them.
 */
class RagEndToEndTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ALICE = "Bearer key-alice";
    private static final String BOB = "Bearer key-bob";
    private static SpillwayServer server;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(Map.of("embeddings.model", "builtin", "server.api-keys", "key-alice,key-bob"));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static JsonNode call(String method, String path, String auth, String body, int expected) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            byte[] bytes = body == null ? RawHttp.request(method, path, null, null, "Authorization: " + auth)
                    : RawHttp.request(method, path, "application/json", body.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    "Authorization: " + auth);
            RawHttp.Response r = http.send(bytes).read();
            assertEquals(expected, r.status(), method + " " + path + ": " + r.body());
            return JSON.readTree(r.body());
        }
    }

    private static final String[][] DOCUMENTS = {
            {"travel-policy", "markdown", """
                # Travel policy

                ## Booking
                Book flights through the internal travel desk at least two weeks ahead. Economy class is the default for
                flights under six hours.

                ## Expenses
                Hotel costs are reimbursed up to 180 euros per night in most cities. Submit receipts within 30 days of
                returning; late claims need a director's approval.
                """},
            {"security", "text", """
                Laptops must use full-disk encryption. Passwords are at least 14 characters and are never reused.
                Report a lost device to the security team within one hour, by phone on extension 4444.
                """},
            {"cafeteria", "text", """
                The cafeteria opens at 8 in the morning and closes at 3 in the afternoon. Vegetarian meals are served
                every day, and on Fridays there is fresh fish.
                """},
    };

    @Test
    void ingestAskAndSeeTheRightSource() throws Exception {
        call("POST", "/v1/collections", ALICE, "{\"name\":\"handbook\"}", 200);
        ObjectNode add = JSON.createObjectNode();
        ArrayNode docs = add.putArray("documents");
        for (String[] d : DOCUMENTS) {
            docs.addObject().put("id", d[0]).put("format", d[1]).put("text", d[2]).putObject("metadata").put("team", "hr");
        }
        JsonNode added = call("POST", "/v1/collections/handbook/documents", ALICE, add.toString(), 200);
        assertEquals(3, added.get("data").size());
        assertTrue(added.at("/usage/prompt_tokens").asInt() > 50);

        JsonNode described = call("GET", "/v1/collections/handbook", ALICE, null, 200);
        assertEquals(384, described.get("dimension").asInt());
        assertTrue(described.get("count").asInt() >= 3);

        // Plain retrieval first.
        JsonNode hits = call("POST", "/v1/collections/handbook/query", ALICE,
                "{\"text\":\"How much does the company pay for a hotel room per night?\",\"top_k\":2}", 200);
        assertEquals("travel-policy", hits.at("/data/0/document_id").asText(), hits.toString());
        assertTrue(hits.at("/data/0/text").asText().contains("180 euros"), hits.toString());
        assertEquals("Travel policy > Expenses", hits.at("/data/0/metadata/section").asText(), hits.toString());

        // The chat completion with retrieval reports the document among its sources.
        String chat = """
                {"model":"%s","max_tokens":8,"messages":[{"role":"user","content":"Who do I call when my laptop is stolen?"}],
                 "rag":{"collection":"handbook","top_k":2}}""".formatted(DemoModel.NAME);
        JsonNode answer = call("POST", "/v1/chat/completions", ALICE, chat, 200);
        List<String> sources = new ArrayList<>();
        answer.get("sources").forEach(s -> sources.add(s.get("document_id").asText()));
        assertEquals("security", sources.get(0), answer.toString());
        assertEquals(1, answer.at("/sources/0/index").asInt());
        // The passages really went into the prompt: it is longer than the question alone.
        String bare = """
                {"model":"%s","max_tokens":8,"messages":[{"role":"user","content":"Who do I call when my laptop is stolen?"}]}"""
                .formatted(DemoModel.NAME);
        JsonNode plain = call("POST", "/v1/chat/completions", ALICE, bare, 200);
        assertTrue(answer.at("/usage/prompt_tokens").asInt() > plain.at("/usage/prompt_tokens").asInt() + 50, answer.toString());
        assertFalse(plain.has("sources"));

        // Streaming carries the sources on its first chunk.
        try (RawHttp http = new RawHttp(server.port())) {
            String streamed = chat.replace("\"max_tokens\":8", "\"max_tokens\":4,\"stream\":true");
            RawHttp.Response r = http.send(RawHttp.request("POST", "/v1/chat/completions", "application/json",
                    streamed.getBytes(java.nio.charset.StandardCharsets.UTF_8), "Authorization: " + ALICE)).read();
            assertEquals(200, r.status());
            String firstData = r.body().lines().filter(l -> l.startsWith("data: ")).findFirst().orElseThrow();
            assertEquals("security", JSON.readTree(firstData.substring(6)).at("/sources/0/document_id").asText());
        }

        // A filter narrows the hits to what matches it; an empty answer would pass the check below vacuously.
        JsonNode filtered = call("POST", "/v1/collections/handbook/query", ALICE,
                "{\"text\":\"opening hours\",\"top_k\":5,\"filter\":{\"document_id\":\"cafeteria\"}}", 200);
        assertFalse(filtered.get("data").isEmpty(), "the cafeteria document is found through its filter: " + filtered);
        filtered.get("data").forEach(h -> assertEquals("cafeteria", h.get("document_id").asText()));

        // Re-adding a document replaces its chunks; deleting removes them.
        call("DELETE", "/v1/collections/handbook/documents/cafeteria", ALICE, null, 200);
        JsonNode after = call("POST", "/v1/collections/handbook/query", ALICE, "{\"text\":\"cafeteria opening hours\",\"top_k\":5}", 200);
        assertFalse(after.get("data").isEmpty(), "the other documents are still found: " + after);
        after.get("data").forEach(h -> assertFalse(h.get("document_id").asText().equals("cafeteria")));
    }

    @Test
    void anotherKeyCanNeitherListNorReadNorUse() throws Exception {
        call("POST", "/v1/collections", ALICE, "{\"name\":\"private\"}", 200);
        call("POST", "/v1/collections/private/vectors", ALICE,
                "{\"vectors\":[{\"id\":\"v1\",\"vector\":" + unit(384, 0) + ",\"metadata\":{\"k\":1},\"text\":\"secret\"}]}", 200);
        JsonNode bobList = call("GET", "/v1/collections", BOB, null, 200);
        bobList.get("data").forEach(c -> assertFalse(c.get("id").asText().equals("private")));
        call("GET", "/v1/collections/private", BOB, null, 404);
        call("POST", "/v1/collections/private/query", BOB, "{\"text\":\"secret\"}", 404);
        call("GET", "/v1/collections/private/vectors/v1", BOB, null, 404);
        call("DELETE", "/v1/collections/private", BOB, null, 404);
        String chat = "{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                + "\"rag\":{\"collection\":\"private\"}}";
        call("POST", "/v1/chat/completions", BOB, chat, 404);
        // Bob may use the same name for his own collection.
        call("POST", "/v1/collections", BOB, "{\"name\":\"private\",\"dimension\":3,\"metric\":\"euclidean\"}", 200);
        assertEquals(1, call("GET", "/v1/collections/private", ALICE, null, 200).get("count").asInt());
        assertEquals(0, call("GET", "/v1/collections/private", BOB, null, 200).get("count").asInt());
        // Alice's record is intact, with its vector.
        JsonNode v = call("GET", "/v1/collections/private/vectors/v1", ALICE, null, 200);
        assertEquals("secret", v.get("text").asText());
        assertEquals(1, v.at("/metadata/k").asInt());
    }

    @Test
    void rawVectorsAndBadRequests() throws Exception {
        call("POST", "/v1/collections", ALICE, "{\"name\":\"raw\",\"dimension\":3,\"metric\":\"dot\"}", 200);
        call("POST", "/v1/collections", ALICE, "{\"name\":\"raw\",\"dimension\":3}", 409);
        call("POST", "/v1/collections", ALICE, "{\"name\":\"../x\",\"dimension\":3}", 400);
        call("POST", "/v1/collections", ALICE, "{\"name\":\"y\",\"dimension\":3,\"metric\":\"hamming\"}", 400);
        call("POST", "/v1/collections/raw/vectors", ALICE, "{\"vectors\":[{\"id\":\"a\",\"vector\":[1,0]}]}", 400);
        call("POST", "/v1/collections/raw/vectors", ALICE, "{\"vectors\":[{\"id\":\"a\",\"vector\":[1,0,\"x\"]}]}", 400);
        call("POST", "/v1/collections/raw/vectors", ALICE,
                "{\"vectors\":[{\"id\":\"a\",\"vector\":[1,0,0],\"metadata\":{\"year\":2020}},"
                        + "{\"id\":\"b\",\"vector\":[2,0,0],\"metadata\":{\"year\":2024}}]}", 200);
        JsonNode q = call("POST", "/v1/collections/raw/query", ALICE, "{\"vector\":[1,0,0],\"top_k\":5,\"filter\":{\"year\":{\"lt\":2022}}}", 200);
        assertEquals(1, q.get("data").size());
        assertEquals("a", q.at("/data/0/id").asText());
        call("POST", "/v1/collections/raw/query", ALICE, "{\"vector\":[1,0,0],\"filter\":{\"year\":{\"near\":1}}}", 400);
        // Text needs the embedding model's dimension.
        call("POST", "/v1/collections/raw/query", ALICE, "{\"text\":\"hello\"}", 400);
        call("POST", "/v1/collections/raw/documents", ALICE, "{\"documents\":[{\"text\":\"hello\"}]}", 400);
        call("POST", "/v1/collections/nope/query", ALICE, "{\"vector\":[1,0,0]}", 404);
        call("DELETE", "/v1/collections/raw/vectors/a", ALICE, null, 200);
        call("DELETE", "/v1/collections/raw/vectors/a", ALICE, null, 404);
        call("DELETE", "/v1/collections/raw", ALICE, null, 200);
        call("GET", "/v1/collections/raw", ALICE, null, 404);
    }

    @Test
    void vectorsWhoseDistancesWouldOverflowAreRefusedAndScoresAreNumbers() throws Exception {
        for (String metric : List.of("euclidean", "dot")) {
            String name = "huge-" + metric;
            call("POST", "/v1/collections", ALICE, "{\"name\":\"" + name + "\",\"dimension\":3,\"metric\":\"" + metric + "\"}", 200);
            JsonNode refused = call("POST", "/v1/collections/" + name + "/vectors", ALICE,
                    "{\"vectors\":[{\"id\":\"far\",\"vector\":[3e38,0,0]}]}", 400);
            assertEquals("invalid_request_error", refused.at("/error/type").asText(), refused.toString());
            assertTrue(refused.at("/error/message").asText().contains("norm"), refused.toString());
            call("POST", "/v1/collections/" + name + "/vectors", ALICE,
                    "{\"vectors\":[{\"id\":\"near\",\"vector\":[1,0,0]},{\"id\":\"big\",\"vector\":[-4e18,0,0]}]}", 200);
            call("POST", "/v1/collections/" + name + "/query", ALICE, "{\"vector\":[-3e38,0,0]}", 400);
            JsonNode hits = call("POST", "/v1/collections/" + name + "/query", ALICE, "{\"vector\":[4e18,0,0],\"top_k\":5}", 200);
            assertEquals(2, hits.get("data").size(), hits.toString());
            hits.get("data").forEach(h -> assertTrue(h.get("score").isNumber() && Double.isFinite(h.get("score").asDouble()), hits.toString()));
        }
    }

    /** Texts in which every stored character must come back as it was sent. */
    private static final List<String> UNICODE = List.of(
            "end with emoji 😀",
            "東京は日本の首都です。𠜎𠜱𠝹は拡張漢字です",
            "Cafe\u0301 cre\u0300me bru\u0302le\u0301e, Ñandú and Zoë, ending on marks e\u0301\u0301",
            "\u05E9\u05DC\u05D5\u05DD \u05E2\u05D5\u05DC\u05DD\u200F and \u0645\u0631\u062D\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u200F",
            "Family 👨\u200D👩\u200D👧\u200D👦, flag 🇯🇵, thumbs 👍🏽, keycap 1\uFE0F\u20E3, math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢");

    private static String encodedChunkId(String documentId, int index) {
        return java.net.URLEncoder.encode(documentId + "#" + index, java.nio.charset.StandardCharsets.UTF_8);
    }

    @Test
    void textInAnyScriptComesBackExactlyFromStorageAndQueries() throws Exception {
        call("POST", "/v1/collections", ALICE, "{\"name\":\"unicode\"}", 200);
        ObjectNode add = JSON.createObjectNode();
        ArrayNode docs = add.putArray("documents");
        for (int i = 0; i < UNICODE.size(); i++) {
            docs.addObject().put("id", "u" + i).put("format", i % 2 == 0 ? "text" : "markdown").put("text", UNICODE.get(i));
        }
        call("POST", "/v1/collections/unicode/documents", ALICE, add.toString(), 200);
        for (int i = 0; i < UNICODE.size(); i++) {
            JsonNode stored = call("GET", "/v1/collections/unicode/vectors/" + encodedChunkId("u" + i, 0), ALICE, null, 200);
            assertEquals(UNICODE.get(i), stored.get("text").asText(), "stored text of document u" + i);
            JsonNode hits = call("POST", "/v1/collections/unicode/query", ALICE, JSON.createObjectNode().put("text", UNICODE.get(i))
                    .put("top_k", 1).set("filter", JSON.createObjectNode().put("document_id", "u" + i)).toString(), 200);
            assertEquals(1, hits.get("data").size(), hits.toString());
            assertEquals(UNICODE.get(i), hits.at("/data/0/text").asText(), "queried text of document u" + i);
        }
    }

    @Test
    void longDocumentsInAnyScriptAreKeptWholeAcrossOverlappingChunks() throws Exception {
        call("POST", "/v1/collections", ALICE, "{\"name\":\"unicode-long\"}", 200);
        StringBuilder text = new StringBuilder();
        StringBuilder markdown = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            String sentence = i + ": " + UNICODE.get(i % UNICODE.size());
            text.append(sentence).append(i % 3 == 2 ? "\n\n" : " ");
            if (i % 8 == 0) {
                markdown.append(i == 0 ? "" : "\n").append("## Teil ").append(i).append(" 🚀 見出し\n");
            }
            markdown.append(sentence).append(i % 3 == 2 ? "\n\n" : " ");
        }
        Map<String, String> documents = Map.of("long-text", text.toString().strip(), "long-markdown", markdown.toString().strip());
        for (Map.Entry<String, String> d : documents.entrySet()) {
            ObjectNode add = JSON.createObjectNode().put("chunk_tokens", 16).put("chunk_overlap", 3);
            add.putArray("documents").addObject().put("id", d.getKey()).put("format", d.getKey().endsWith("markdown") ? "markdown" : "text")
                    .put("text", d.getValue());
            JsonNode added = call("POST", "/v1/collections/unicode-long/documents", ALICE, add.toString(), 200);
            JsonNode chunkIds = added.at("/data/0/chunk_ids");
            assertTrue(chunkIds.size() > 10, added.toString());
            String document = d.getValue();
            boolean[] covered = new boolean[document.length()];
            int previous = -1;
            for (int i = 0; i < chunkIds.size(); i++) {
                String chunk = call("GET", "/v1/collections/unicode-long/vectors/" + encodedChunkId(d.getKey(), i), ALICE, null, 200)
                        .get("text").asText();
                // Chunks follow the document and overlap: each is found after where the one before it starts.
                int at = document.indexOf(chunk, previous + 1);
                assertTrue(at >= 0, d.getKey() + " chunk " + i + " is not a piece of the document: '" + chunk + "'");
                java.util.Arrays.fill(covered, at, at + chunk.length(), true);
                previous = at;
            }
            for (int at = 0; at < document.length(); at++) {
                assertTrue(covered[at] || Character.isWhitespace(document.charAt(at)), d.getKey() + ": U+"
                        + Integer.toHexString(document.charAt(at)).toUpperCase() + " at " + at + " is in no chunk: '"
                        + document.substring(Math.max(0, at - 10), Math.min(document.length(), at + 10)) + "'");
            }
        }
    }

    private static String unit(int dim, int hot) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < dim; i++) {
            sb.append(i == 0 ? "" : ",").append(i == hot ? "1" : "0");
        }
        return sb.append("]").toString();
    }
}
