package io.spillway.server.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.platform.audit.AuditChain;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Personal data on the spill path, through the HTTP API, the real AWS SDK and a fake Bedrock that
 * records the exact bytes of every request: pseudonymized values never reach it and come back in
 * the answer (whole, streamed in pieces of every size, and inside tool-call arguments); under
 * local-only they are never sent at all; the audit trail holds the hash of every body sent.
 */
class PrivateSpillTest extends BedrockServerTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final String CARD_1 = "4111-1111-1111-1111";
    private static final String CARD_2 = "5105 1051 0510 5100";
    private static final List<String> VALUES = List.of("ann.lee@example.com", "bob@example.org", CARD_1, CARD_2, "+44 20 7946 0958",
            "GB82 WEST 1234 5698 7654 32", "AKIAIOSFODNN7EXAMPLE");
    private static final String FIRST = "My e-mail is ann.lee@example.com and my card is " + CARD_1 + "; my colleague is bob@example.org.";
    private static final String REPLY = "Noted: I will write to ann.lee@example.com.";
    private static final String LAST = "Ask bob@example.org, call me at +44 20 7946 0958 or ann.lee@example.com; pay from IBAN"
            + " GB82 WEST 1234 5698 7654 32 with card " + CARD_2 + " (not " + CARD_1 + "); my key is AKIAIOSFODNN7EXAMPLE";

    private Path auditDir;

    private void start(String piiOnSpill, Map<String, String> overrides) throws Exception {
        fake = new FakeBedrock(5);
        auditDir = Files.createTempDirectory("spillway-private-spill-audit");
        Map<String, String> settings = new java.util.HashMap<>(overrides);
        settings.put("audit.dir", auditDir.toString());
        settings.put("audit.max-file-bytes", "4096");
        server = TestServers.start(settings, """
                router:
                  pii-on-spill: %s
                  models:
                    - name: %s
                      local: true
                      bedrock-model-id: qwen.qwen3-32b-v1:0
                    - name: claude
                      local: false
                      bedrock-model-id: anthropic.claude-3-haiku-20240307-v1:0
                bedrock:
                  endpoint: %s
                  region: us-east-1
                """.formatted(piiOnSpill, DemoModel.NAME, fake.endpoint()));
    }

    private static String conversation(boolean stream, boolean tools) {
        return conversation(stream, tools, 100);
    }

    private static String conversation(boolean stream, boolean tools, int maxTokens) {
        ObjectNode body = JSON.createObjectNode().put("model", "claude").put("stream", stream).put("max_tokens", maxTokens);
        ArrayNode messages = body.putArray("messages");
        messages.addObject().put("role", "user").put("content", FIRST);
        messages.addObject().put("role", "assistant").put("content", REPLY);
        messages.addObject().put("role", "user").put("content", LAST);
        if (tools) {
            ObjectNode fn = body.putArray("tools").addObject().put("type", "function").putObject("function");
            fn.put("name", "send_mail").putObject("parameters").put("type", "object");
        }
        return body.toString();
    }

    private RawHttp.Response chat(String body) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(RawHttp.postJson("/v1/chat/completions", body)).read();
        }
    }

    private RawHttp.Response chat(String body, String requestId) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(RawHttp.request("POST", "/v1/chat/completions", "application/json", body.getBytes(StandardCharsets.UTF_8),
                    "x-request-id: " + requestId)).read();
        }
    }

    /** The audit trail's records, by request id, once the server has stopped (which flushes it). */
    private Map<String, JsonNode> audited() throws Exception {
        server.close();
        server = null;
        assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(auditDir, AuditChain.GENESIS));
        Map<String, JsonNode> records = new java.util.HashMap<>();
        try (var files = Files.list(auditDir)) {
            for (Path f : files.toList()) {
                for (String line : Files.readAllLines(f)) {
                    JsonNode record = JSON.readTree(line);
                    records.put(record.get("request_id").asText(), record);
                }
            }
        }
        return records;
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /** The answer's content and each tool call's arguments, from a body or from a stream's chunks. */
    private record Answer(String content, List<String> arguments) {
    }

    private static Answer answer(RawHttp.Response r, boolean stream) throws Exception {
        assertEquals(200, r.status(), r.body());
        if (!stream) {
            JsonNode message = JSON.readTree(r.body()).at("/choices/0/message");
            List<String> args = new ArrayList<>();
            message.path("tool_calls").forEach(c -> args.add(c.at("/function/arguments").asText()));
            return new Answer(message.path("content").asText(""), args);
        }
        StringBuilder content = new StringBuilder();
        List<StringBuilder> args = new ArrayList<>();
        List<String> data = r.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", data.get(data.size() - 1), r.body());
        boolean finished = false;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode chunk = JSON.readTree(d);
            JsonNode delta = chunk.at("/choices/0/delta");
            assertFalse(chunk.has("error"), d);
            assertFalse(finished && (delta.has("content") || delta.has("tool_calls")), "text after the choice ended: " + d);
            finished |= chunk.at("/choices/0/finish_reason").isTextual();
            content.append(delta.path("content").asText(""));
            for (JsonNode call : delta.path("tool_calls")) {
                int index = call.get("index").asInt();
                while (args.size() <= index) {
                    args.add(new StringBuilder());
                }
                args.get(index).append(call.at("/function/arguments").asText(""));
            }
        }
        return new Answer(content.toString(), args.stream().map(StringBuilder::toString).toList());
    }

    /** Fails if a value, or any run of 4 digits of a card number, is in what the fake received. */
    private void assertNothingPersonalReachedBedrock() {
        assertFalse(fake.received.isEmpty());
        for (FakeBedrock.Received sent : fake.received) {
            String raw = new String(sent.raw(), StandardCharsets.UTF_8);
            for (String value : VALUES) {
                assertFalse(raw.contains(value), value + " reached Bedrock: " + raw);
            }
            for (String card : List.of(CARD_1, CARD_2)) {
                String digits = card.replaceAll("\\D", "");
                for (int i = 0; i + 4 <= digits.length(); i++) {
                    assertFalse(raw.contains(digits.substring(i, i + 4)), "digits " + digits.substring(i, i + 4) + " of a card reached Bedrock: "
                            + raw);
                }
            }
        }
    }

    @Test
    void pseudonymizedValuesNeverLeaveAndComeBackInTheAnswerWholeOrStreamed() throws Exception {
        start("pseudonymize", Map.of());
        RawHttp.Response whole = chat(conversation(false, false));
        assertEquals("bedrock", whole.header("x-spillway-route"));
        assertEquals("model_not_local,pseudonymized", whole.header("x-spillway-route-reason"));
        assertEquals("bedrock: " + LAST, answer(whole, false).content(), "the echo comes back with the values in their places");

        JsonNode sent = fake.received.get(0).body().get("messages");
        assertEquals("My e-mail is <EMAIL_1> and my card is <CARD_1>; my colleague is <EMAIL_2>.", sent.at("/0/content/0/text").asText());
        assertEquals("Noted: I will write to <EMAIL_1>.", sent.at("/1/content/0/text").asText());
        assertEquals("Ask <EMAIL_2>, call me at <PHONE_1> or <EMAIL_1>; pay from IBAN <IBAN_1> with card <CARD_2> (not <CARD_1>);"
                + " my key is <AWS_KEY_1>", sent.at("/2/content/0/text").asText(),
                "one value is one placeholder across the conversation, two values two");

        for (int piece : new int[] {1, 2, 3, 4, 5, 7, 11, 0}) {
            fake.echo(piece);
            assertEquals("bedrock: " + LAST, answer(chat(conversation(true, false)), true).content(), "pieces of " + piece);
        }
        assertNothingPersonalReachedBedrock();
    }

    @Test
    void placeholdersInToolCallArgumentsComeBackAsTheValues() throws Exception {
        start("pseudonymize", Map.of());
        String expected = "{\"to\":\"ann.lee@example.com\",\"cc\":\"bob@example.org\",\"card\":\"" + CARD_2 + "\"}";
        for (int piece : new int[] {1, 3, 8}) {
            fake.replyWithTools("", piece, new FakeBedrock.ToolUse("t1", "send_mail",
                    "{\"to\":\"<EMAIL_1>\",\"cc\":\"<EMAIL_2>\",\"card\":\"<CARD_2>\"}"));
            assertEquals(List.of(expected), answer(chat(conversation(false, true)), false).arguments(), "whole, pieces of " + piece);
            assertEquals(List.of(expected), answer(chat(conversation(true, true)), true).arguments(), "streamed, pieces of " + piece);
        }
        assertNothingPersonalReachedBedrock();
    }

    @Test
    void theAuditHoldsTheHashOfTheExactBytesSentAndItsChainVerifies() throws Exception {
        start("pseudonymize", Map.of());
        for (int i = 0; i < 3; i++) {
            answer(chat(conversation(i % 2 == 0, false, 100 + i)), i % 2 == 0);
        }
        chat("{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"local\"}]}");
        server.close(); // flushes the audit trail
        server = null;

        Set<String> received = new HashSet<>();
        for (FakeBedrock.Received r : fake.received) {
            received.add(sha256(r.raw()));
        }
        assertEquals(3, received.size(), "three different bodies (their max_tokens differ)");
        Set<String> audited = new HashSet<>();
        int local = 0;
        try (var files = Files.list(auditDir)) {
            for (Path f : files.toList()) {
                for (String line : Files.readAllLines(f)) {
                    JsonNode record = JSON.readTree(line);
                    if (record.get("route").asText().equals("bedrock")) {
                        audited.add(record.get("sent_sha256").asText());
                        assertEquals(List.of("model_not_local", "pseudonymized"),
                                JSON.convertValue(record.get("route_reasons"), List.class));
                    } else {
                        local++;
                        assertTrue(record.get("sent_sha256").isNull(), "nothing was sent for a local answer: " + line);
                    }
                }
            }
        }
        assertEquals(received, audited, "the audit's hashes are those of the bytes the fake received");
        assertEquals(1, local);
        assertInstanceOf(AuditChain.Verified.class, AuditChain.verify(auditDir, AuditChain.GENESIS));
    }

    @Test
    void underLocalOnlyPersonalDataIsServedLocallyOrRefusedAndNeverSent() throws Exception {
        // A tiny engine and a TTFT target any queue exceeds: everything that may spill does.
        start("local-only", Map.of("engine.max-num-seqs", "2", "router.ttft-target-ms", "1", "engine.max-waiting-requests", "6"));
        assertEquals(200, chat("{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":"
                + "\"warm\"}]}").status());
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<RawHttp.Response>> all = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            boolean personal = i % 2 == 0;
            String content = personal ? "PRIVATE-" + i + " write to person" + i + "@example.com" : "public-" + i;
            String body = "{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":24,\"messages\":[{\"role\":\"user\","
                    + "\"content\":\"" + content + "\"}]}";
            String id = (personal ? "pii-" : "plain-") + i;
            all.add(pool.submit((Callable<RawHttp.Response>) () -> chat(body, id)));
        }
        int spilled = 0;
        int refused = 0;
        for (int i = 0; i < all.size(); i++) {
            RawHttp.Response r = all.get(i).get();
            if (i % 2 == 0) {
                if (r.status() == 503) {
                    refused++;
                    assertTrue(r.header("retry-after") != null, "a refusal says when to retry");
                } else {
                    assertEquals(200, r.status(), r.body());
                    assertEquals("local", r.header("x-spillway-route"));
                    assertEquals("pii_local_only", r.header("x-spillway-route-reason"));
                }
            } else if ("bedrock".equals(r.header("x-spillway-route"))) {
                spilled++;
            }
        }
        pool.shutdown();
        for (FakeBedrock.Received sent : fake.received) {
            String raw = new String(sent.raw(), StandardCharsets.UTF_8);
            assertFalse(raw.contains("PRIVATE") || raw.contains("@example.com"), "personal data reached Bedrock: " + raw);
        }
        assertTrue(spilled > 0, "requests without personal data still spill (" + spilled + " spilled, " + refused + " refused)");

        RawHttp.Response remote = chat(conversation(false, false));
        assertEquals(400, remote.status(), remote.body());
        JsonNode error = JSON.readTree(remote.body()).get("error");
        assertEquals("pii_requires_local", error.get("code").asText());
        for (String value : VALUES) {
            assertFalse(remote.body().contains(value), "the error names types, never values: " + remote.body());
        }
        assertTrue(error.get("message").asText().contains("credit_card, email, iban, phone"), remote.body());

        // Only in an earlier call's arguments, given as an object: still found, still kept.
        RawHttp.Response hidden = chat("""
                {"model":"claude","messages":[{"role":"user","content":"pay it"},
                 {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"pay","arguments":{"iban":"GB82 WEST 1234 5698 7654 32"}}}]},
                 {"role":"tool","tool_call_id":"c1","content":"done"},{"role":"user","content":"thanks"}],
                 "tools":[{"type":"function","function":{"name":"pay","parameters":{"type":"object"}}}]}""");
        assertEquals(400, hidden.status(), hidden.body());
        assertTrue(hidden.body().contains("pii_requires_local"), hidden.body());

        Map<String, JsonNode> records = audited();
        int personalRecords = 0;
        for (Map.Entry<String, JsonNode> r : records.entrySet()) {
            if (r.getKey().startsWith("pii-")) {
                personalRecords++;
                assertEquals(List.of("pii_local_only"), JSON.convertValue(r.getValue().get("route_reasons"), List.class),
                        "served or refused, the audit says why: " + r.getValue());
                assertTrue(r.getValue().get("sent_sha256").isNull());
            }
        }
        assertEquals(15, personalRecords);
    }

    @Test
    void everyTextConverseReadsIsPseudonymizedEvenEscapedOrInsideStructures() throws Exception {
        start("pseudonymize", Map.of());
        RawHttp.Response r = chat("""
                {"model":"claude","stop":["ann.lee@example.com"],"messages":[
                 {"role":"system","content":"You serve bob@example.org."},
                 {"role":"user","content":"Pay and mail."},
                 {"role":"assistant","tool_calls":[
                   {"id":"c1","type":"function","function":{"name":"mail","arguments":"{\\"to\\":\\"ann.lee\\u0040example.com\\",\\"card\\":\\"4111\\u002d1111-1111-1111\\"}"}},
                   {"id":"c2","type":"function","function":{"name":"pay","arguments":{"iban":"GB82 WEST 1234 5698 7654 32"}}}]},
                 {"role":"tool","tool_call_id":"c1","content":"mailed +44 20 7946 0958"},
                 {"role":"tool","tool_call_id":"c2","content":"paid"},
                 {"role":"user","content":"thanks"}],
                 "tools":[{"type":"function","function":{"name":"mail","description":"Mail the boss at carol@example.com",
                   "parameters":{"type":"object","properties":{"key":{"type":"string","default":"AKIAIOSFODNN7EXAMPLE"}}}}},
                  {"type":"function","function":{"name":"pay","parameters":{"type":"object"}}}]}""");
        assertEquals(200, r.status(), r.body());
        assertEquals("model_not_local,pseudonymized", r.header("x-spillway-route-reason"));
        String raw = new String(fake.received.get(0).raw(), StandardCharsets.UTF_8);
        for (String value : List.of("ann.lee", "bob@", "carol@", "AKIAIOSFODNN7EXAMPLE", "GB82", "7946", "4111", "1111")) {
            assertFalse(raw.contains(value), value + " reached Bedrock: " + raw);
        }
        assertTrue(raw.contains("<EMAIL_1>") && raw.contains("<CARD_1>") && raw.contains("<IBAN_1>"), raw);
    }

    @Test
    void aSendBedrockRefusesIsAuditedWithTheHashOfWhatLeftAndACachedAnswerClaimsNoSend() throws Exception {
        start("pseudonymize", Map.of());
        fake.failNext(1, 400);
        RawHttp.Response refused = chat(conversation(false, false), "refused");
        assertEquals(400, refused.status(), refused.body());
        String deterministic = conversation(false, false).replace("\"stream\":false", "\"stream\":false,\"temperature\":0");
        assertEquals("miss", chat(deterministic, "first").header("x-spillway-cache"));
        RawHttp.Response hit = chat(deterministic, "again");
        assertEquals("hit", hit.header("x-spillway-cache"));
        assertEquals(null, hit.header("x-spillway-route-reason"), "a cached answer was not routed");

        Map<String, JsonNode> records = audited();
        assertEquals(sha256(fake.arrived.get(0)), records.get("refused").get("sent_sha256").asText());
        assertEquals("bedrock", records.get("refused").get("route").asText());
        assertEquals(List.of("model_not_local", "pseudonymized"), JSON.convertValue(records.get("refused").get("route_reasons"), List.class));
        assertEquals(sha256(fake.arrived.get(1)), records.get("first").get("sent_sha256").asText());
        assertTrue(records.get("again").get("sent_sha256").isNull(), "the hit sent nothing: " + records.get("again"));
    }
}
