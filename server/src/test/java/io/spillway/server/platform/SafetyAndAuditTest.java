package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.server.SpillwayServer;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.platform.safety.SafetyAction;
import io.spillway.server.router.FakeBedrock;
import io.spillway.server.testing.TestServers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Safety filters and the audit trail through the HTTP API, with a fake Bedrock as the generator
 * (so the answer can carry PII on demand): streamed answers are redacted even when a card number
 * arrives in three-character pieces; input PII is redacted before it leaves the box; nothing of a
 * redacted value reaches the audit log, the server log or the metrics.
 */
class SafetyAndAuditTest {

    private static final String CARD = "4111 1111 1111 1111";
    private static final String SSN = "078-05-1120";
    private static final String EMAIL = "jane.doe@example.com";

    private FakeBedrock fake;
    private SpillwayServer server;
    private Path auditDir;
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    @BeforeAll
    static void credentials() {
        FakeBedrock.installTestCredentials();
    }

    @BeforeEach
    void start() throws Exception {
        ch.qos.logback.classic.Logger root = (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        logs.start();
        root.addAppender(logs);
        fake = new FakeBedrock(0);
        auditDir = Files.createTempDirectory("spillway-audit");
        server = TestServers.start(Map.of("safety.pii", "redact", "audit.dir", auditDir.toString()), """
                router:
                  models:
                    - name: remote
                      local: false
                      bedrock-model-id: anthropic.claude-test
                bedrock:
                  endpoint: %s
                  region: us-east-1
                """.formatted(fake.endpoint()));
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        fake.close();
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).detachAppender(logs);
    }

    @Test
    void aCardNumberStreamedInPiecesIsRedactedAndSoIsTheWholeBody() throws Exception {
        fake.reply("Your card " + CARD + " is on file.", 3);
        Api api = new Api(server);
        Api.Reply streamed = api.post("/v1/chat/completions", Api.chat("remote", "what card do you have?", "\"stream\": true"), null);
        assertEquals(200, streamed.status());
        assertEquals("Your card [REDACTED_CREDIT_CARD] is on file.", streamed.content());
        // No piece of the number in any chunk; ids and timestamps are left out (a "created" of
        // 1796111198 holds 1111 too).
        String chunks = streamed.raw().body().replaceAll("\"created\":\\d+", "").replaceAll("\"id\":\"[^\"]*\"", "");
        assertFalse(chunks.contains("1111"), streamed.raw().body());
        Api.Reply whole = api.post("/v1/chat/completions", Api.chat("remote", "what card do you have?", ""), null);
        assertEquals("Your card [REDACTED_CREDIT_CARD] is on file.", whole.content());
    }

    @Test
    void inputPiiIsRedactedBeforeItLeavesAndNoRedactedValueIsLoggedAuditedOrCounted() throws Exception {
        KeyStore.Created key = server.keys().create("acme", "auditor", Set.of(), false, 0, 0, 0, false, Optional.empty(), true, Optional.empty());
        fake.reply("Noted: card " + CARD + ".", 4);
        Api api = new Api(server);
        String prompt = "My SSN is " + SSN + " and my mail is " + EMAIL + ".";
        Api.Reply r = api.post("/v1/chat/completions", Api.chat("remote", prompt, "\"stream\": true"), key.secret());
        assertEquals(200, r.status());
        assertEquals("Noted: card [REDACTED_CREDIT_CARD].", r.content());
        String sentToBedrock = fake.received.get(0).body().toString();
        assertTrue(sentToBedrock.contains("My SSN is [REDACTED_US_SSN] and my mail is [REDACTED_EMAIL]."), sentToBedrock);
        String metrics = api.get("/metrics");
        assertTrue(metrics.contains("spillway_safety_findings_total{action=\"redact\",direction=\"input\",type=\"us_ssn\"} 1.0"), metrics);
        assertTrue(metrics.contains("spillway_safety_findings_total{action=\"redact\",direction=\"output\",type=\"credit_card\"} 1.0"),
                metrics);
        server.close(); // flushes the audit log
        server = null;

        List<JsonNode> records = new ArrayList<>();
        StringBuilder auditText = new StringBuilder();
        try (Stream<Path> files = Files.list(auditDir)) {
            for (Path f : files.toList()) {
                String text = Files.readString(f);
                auditText.append(text);
                for (String line : text.split("\n")) {
                    records.add(Api.JSON.readTree(line));
                }
            }
        }
        JsonNode rec = records.stream().filter(n -> n.path("key_id").asText().equals(key.key().id())).findFirst().orElseThrow();
        assertEquals("acme", rec.path("tenant").asText());
        assertEquals("bedrock", rec.path("route").asText());
        assertEquals(1, rec.path("input_findings").path("us_ssn").asInt());
        assertEquals(1, rec.path("input_findings").path("email").asInt());
        assertEquals(1, rec.path("output_findings").path("credit_card").asInt());
        assertEquals(200, rec.path("status").asInt());
        assertTrue(rec.path("prompt").asText().contains("[REDACTED_US_SSN]"), "this key logs prompts, redacted: " + rec);
        StringBuilder logText = new StringBuilder();
        for (ILoggingEvent e : logs.list) {
            logText.append(e.getFormattedMessage()).append('\n');
            if (e.getThrowableProxy() != null) {
                logText.append(ThrowableProxyUtil.asString(e.getThrowableProxy()));
            }
        }
        assertTrue(logs.list.size() > 5, "the server log was captured");
        for (String value : List.of(CARD, SSN, EMAIL, "1111 1111", "05-1120", "jane.doe")) {
            assertFalse(auditText.toString().contains(value), "audit log holds " + value);
            assertFalse(logText.toString().contains(value), "server log holds " + value);
            assertFalse(metrics.contains(value), "metrics hold " + value);
        }
    }

    @Test
    void aKeyWhosePolicyBlocksPiiIsRefusedWithTheTypesButNotTheValues() throws Exception {
        KeyStore.Created key = server.keys().create("acme", "strict", Set.of(), false, 0, 0, 0, false, Optional.of(SafetyAction.BLOCK),
                false, Optional.empty());
        Api.Reply r = new Api(server).post("/v1/chat/completions", Api.chat("remote", "charge " + CARD + " now", ""), key.secret());
        assertEquals(400, r.status());
        assertEquals("content_policy_violation", r.json().path("error").path("code").asText());
        assertTrue(r.json().path("error").path("message").asText().contains("credit_card"), r.raw().body());
        assertFalse(r.raw().body().contains("1111"));
        assertEquals(0, fake.received.size(), "nothing was sent to Bedrock");
    }
}
