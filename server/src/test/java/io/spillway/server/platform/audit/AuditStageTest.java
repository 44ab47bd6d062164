package io.spillway.server.platform.audit;

import static io.spillway.server.testing.Pipelines.answer;
import static io.spillway.server.testing.Pipelines.chat;
import static io.spillway.server.testing.Pipelines.events;
import static io.spillway.server.testing.Pipelines.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.PolicyViolation;
import io.spillway.server.generation.Refusal;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.Usage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** One audit record per request, however it ends, written by the stage from events alone. */
class AuditStageTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ChatRequest HI = chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    private static final Caller CALLER = new Caller("k1", "acme", "owner", "", true, KeyPolicy.DEFAULT);

    /** Runs each scenario through one audit log and returns its lines, in order. */
    private static List<JsonNode> audit(List<Pipelines.Scripted> scenarios) throws Exception {
        return audit(scenarios, null);
    }

    /** As {@link #audit(List)}; the caller of {@code abandoned} goes away (cancels) before its end. */
    private static List<JsonNode> audit(List<Pipelines.Scripted> scenarios, Pipelines.Scripted abandoned) throws Exception {
        Path dir = Files.createTempDirectory("spillway-audit-stage");
        AuditLog log = new AuditLog(dir, 1 << 20, false, Clock.systemUTC());
        for (Pipelines.Scripted inner : scenarios) {
            AuditStage stage = new AuditStage(inner, log, Clock.systemUTC(), new PrometheusRegistry());
            try {
                Start start = stage.start(request(CALLER, HI));
                if (start instanceof Start.Accepted accepted) {
                    if (inner == abandoned) {
                        accepted.generation().cancel();
                    }
                    events(start);
                }
            } catch (RuntimeException expected) {
                // Refusals are records too.
            }
        }
        log.close();
        List<JsonNode> lines = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                for (String line : Files.readAllLines(f)) {
                    lines.add(JSON.readTree(line));
                }
            }
        }
        return lines;
    }

    @Test
    void everyOutcomeLeavesOneRecord() throws Exception {
        Pipelines.Scripted answered = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.BEDROCK, "m", Optional.empty(), CacheOutcome.MISS, 1, Optional.empty(), false),
                new GenerationEvent.Delta(0, "x", new int[] {1}, List.of()),
                new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), false),
                new GenerationEvent.Screened(Map.of("email", 1), Map.of("credit_card", 2), Optional.empty()),
                new GenerationEvent.Completed(new Usage(10, 4, 0, 0.25))))));
        Pipelines.Scripted blocked = new Pipelines.Scripted(r -> {
            throw new PolicyViolation(Map.of("us_ssn", 1));
        });
        Pipelines.Scripted refused = new Pipelines.Scripted(r -> new Start.Refused(new Refusal.QueueFull("full", 1)));
        Pipelines.Scripted abandoned = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.BYPASS, 1, Optional.empty(), false),
                new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), true),
                new GenerationEvent.Completed(new Usage(10, 0, 0, 0))))));
        Pipelines.Scripted endedByTheServer = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.BYPASS, 1, Optional.empty(), false),
                new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), true),
                new GenerationEvent.Completed(new Usage(10, 3, 0, 0))))));
        Pipelines.Scripted cached = new Pipelines.Scripted(r -> new Start.Accepted(answer(Route.LOCAL, new Usage(10, 4, 0, 0.25), "x")));

        List<JsonNode> lines = audit(List.of(answered, blocked, refused, abandoned, cached, endedByTheServer), abandoned);
        assertEquals(6, lines.size(), lines.toString());

        JsonNode ok = lines.get(0);
        assertEquals("k1", ok.path("key_id").asText());
        assertEquals("acme", ok.path("tenant").asText());
        assertEquals("bedrock", ok.path("route").asText());
        assertEquals("miss", ok.path("cache").asText());
        assertEquals(200, ok.path("status").asInt());
        assertEquals(10, ok.path("prompt_tokens").asInt());
        assertEquals(4, ok.path("completion_tokens").asInt());
        assertEquals(0.25, ok.path("cost_usd").asDouble(), 1e-12);
        assertEquals(1, ok.path("input_findings").path("email").asInt());
        assertEquals(2, ok.path("output_findings").path("credit_card").asInt());

        assertEquals(400, lines.get(1).path("status").asInt());
        assertEquals(1, lines.get(1).path("input_findings").path("us_ssn").asInt());
        assertEquals("error", lines.get(1).path("error").asText());
        assertEquals(503, lines.get(2).path("status").asInt());
        assertEquals(499, lines.get(3).path("status").asInt(), "cut short by its client");
        assertEquals(200, lines.get(5).path("status").asInt(), "ended early by the server (shutting down): its client got a whole stream");
        assertTrue(lines.stream().allMatch(l -> l.path("duration_seconds").asDouble() >= 0));
    }

    @Test
    void toolCallsAreRecordedByNameAndCountNeverWithTheirArguments() throws Exception {
        Pipelines.Scripted agent = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.MISS, 1, Optional.empty(), false),
                new GenerationEvent.ToolCallDelta(0, 0, Optional.of("call_a"), Optional.of("pay"), "{\"iban\":\"DE44 5001\"}"),
                new GenerationEvent.ToolCallDelta(0, 1, Optional.of("call_b"), Optional.of("lookup"), ""),
                new GenerationEvent.ToolCallDelta(0, 1, Optional.empty(), Optional.empty(), "{\"q\":\"secret plan\"}"),
                new GenerationEvent.ToolCallDelta(0, 2, Optional.of("call_c"), Optional.of("pay"), "{}"),
                new GenerationEvent.Finished(0, FinishReason.TOOL_CALLS, Optional.empty(), false),
                new GenerationEvent.Completed(new Usage(10, 4, 0, 0))))));
        JsonNode line = audit(List.of(agent)).get(0);
        assertEquals(JSON.readTree("{\"lookup\":1,\"pay\":2}"), line.path("tool_calls"));
        assertTrue(!line.toString().contains("secret plan") && !line.toString().contains("DE44"), line.toString());
    }

    @Test
    void aReusedAnswerIsRecordedAsCostingNothing() throws Exception {
        Pipelines.Scripted hit = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.HIT, 0, Optional.empty(), false),
                new GenerationEvent.Completed(new Usage(10, 4, 0, 0.25))))));
        JsonNode line = audit(List.of(hit)).get(0);
        assertEquals("hit", line.path("cache").asText());
        assertEquals(0, line.path("cost_usd").asDouble(), 1e-12);
    }

    @Test
    void exceptionsAreRecordedAndStillThrown() {
        Pipelines.Scripted failing = new Pipelines.Scripted(r -> {
            throw new IllegalStateException("boom");
        });
        assertThrows(IllegalStateException.class, () -> new AuditStage(failing, new AuditLog(Files.createTempDirectory("a"), 1 << 20,
                false, Clock.systemUTC()), Clock.systemUTC(), new PrometheusRegistry()).start(request(CALLER, HI)));
    }
}
