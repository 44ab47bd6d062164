package io.spillway.server.platform.safety;

import static io.spillway.server.testing.Pipelines.answer;
import static io.spillway.server.testing.Pipelines.chat;
import static io.spillway.server.testing.Pipelines.events;
import static io.spillway.server.testing.Pipelines.request;
import static io.spillway.server.testing.Pipelines.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.PolicyViolation;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.Usage;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The safety filters as a stage: what the model is given, what the caller gets, what is reported. */
class SafetyStageTest {

    private static final ChatRequest WITH_EMAIL = chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
            + "\"content\":\"Write to jane.doe@example.com please\"}]}");

    /** An answer with a card number split across three deltas. */
    private final Pipelines.Scripted inner = new Pipelines.Scripted(r -> new Start.Accepted(answer(Route.BEDROCK, Usage.NONE,
            "Card 4111 11", "11 1111 ", "1111 is on file.")));

    private SafetyStage stage(SafetyAction pii, boolean logPrompts) {
        SafetyPolicy policy = new SafetyPolicy(pii, EnumSet.allOf(PiiType.class), SafetyAction.OFF, SafetyAction.OFF, logPrompts);
        return new SafetyStage(inner, policy, new Blocklist(List.of()), Optional.empty(), new PrometheusRegistry());
    }

    private static GenerationEvent.Screened screened(List<GenerationEvent> events) {
        return (GenerationEvent.Screened) events.stream().filter(e -> e instanceof GenerationEvent.Screened).findFirst().orElseThrow();
    }

    @Test
    void redactingPoliciesRewriteTheRequestBeforeAnyModelAndTheAnswerAsItStreams() {
        List<GenerationEvent> events = events(stage(SafetyAction.REDACT, false).start(request(Caller.ANONYMOUS, WITH_EMAIL)));
        String given = ((ChatRequest) inner.received.get(0).body()).messages().get(0).content();
        assertEquals("Write to [REDACTED_EMAIL] please", given);
        assertEquals("Card [REDACTED_CREDIT_CARD] is on file.", text(events, 0));
        for (GenerationEvent e : events) {
            if (e instanceof GenerationEvent.Delta d) {
                assertFalse(d.text().matches(".*\\d{2}.*"), "no piece of the number is ever released: " + d.text());
            }
        }
        GenerationEvent.Screened s = screened(events);
        assertEquals(Map.of("email", 1), s.input());
        assertEquals(Map.of("credit_card", 1), s.output());
        assertTrue(events.indexOf(s) == events.size() - 2, "reported once, just before the end");
    }

    @Test
    void toolCallArgumentsAndReasoningAreRedactedAsTheyStreamLikeContent() {
        Pipelines.Scripted agent = new Pipelines.Scripted(r -> new Start.Accepted(EventChannel.of(List.of(
                new GenerationEvent.Started(Route.LOCAL, "m", Optional.empty(), CacheOutcome.BYPASS, 1, Optional.empty(), false),
                new GenerationEvent.ReasoningDelta(0, "I will mail jane.doe@exa"),
                new GenerationEvent.ReasoningDelta(0, "mple.com and pay."),
                new GenerationEvent.ToolCallDelta(0, 0, Optional.of("call_1"), Optional.of("pay"), ""),
                new GenerationEvent.ToolCallDelta(0, 0, Optional.empty(), Optional.empty(), "{\"card\": \"4111 11"),
                new GenerationEvent.ToolCallDelta(0, 0, Optional.empty(), Optional.empty(), "11 1111 1111\", \"amount\": 5}"),
                new GenerationEvent.Finished(0, FinishReason.TOOL_CALLS, Optional.empty(), false),
                new GenerationEvent.Completed(Usage.NONE)))));
        SafetyPolicy policy = new SafetyPolicy(SafetyAction.REDACT, EnumSet.allOf(PiiType.class), SafetyAction.OFF, SafetyAction.OFF,
                false);
        List<GenerationEvent> events = events(new SafetyStage(agent, policy, new Blocklist(List.of()), Optional.empty(),
                new PrometheusRegistry()).start(request(Caller.ANONYMOUS, chat("{\"model\":\"m\",\"messages\":[{\"role\":"
                + "\"user\",\"content\":\"pay\"}]}"))));
        StringBuilder reasoning = new StringBuilder();
        StringBuilder arguments = new StringBuilder();
        for (GenerationEvent e : events) {
            if (e instanceof GenerationEvent.ReasoningDelta r) {
                reasoning.append(r.text());
                assertFalse(r.text().contains("@"), "no piece of the address is released: " + r.text());
            } else if (e instanceof GenerationEvent.ToolCallDelta t) {
                arguments.append(t.arguments());
                assertFalse(t.arguments().matches(".*\\d{2}.*"), "no piece of the number is released: " + t.arguments());
            }
        }
        assertEquals("I will mail [REDACTED_EMAIL] and pay.", reasoning.toString());
        assertEquals("{\"card\": \"[REDACTED_CREDIT_CARD]\", \"amount\": 5}", arguments.toString());
        GenerationEvent.ToolCallDelta first = (GenerationEvent.ToolCallDelta) events.stream()
                .filter(e -> e instanceof GenerationEvent.ToolCallDelta).findFirst().orElseThrow();
        assertEquals(Optional.of("pay"), first.name(), "the call's name and id still come first");
        assertEquals(Optional.of("call_1"), first.id());
        assertEquals(Map.of("credit_card", 1, "email", 1), screened(events).output());
    }

    @Test
    void aBlockingPolicyRefusesTheRequestAndNamesWhatItFoundButNeverTheValue() {
        PolicyViolation v = assertThrows(PolicyViolation.class, () -> stage(SafetyAction.BLOCK, false).start(request(Caller.ANONYMOUS,
                WITH_EMAIL)));
        assertEquals(400, v.status());
        assertEquals(Map.of("email", 1), v.findings());
        assertFalse(v.getMessage().contains("jane"));
        assertEquals(0, inner.received.size(), "no model saw it");
    }

    @Test
    void aKeysOwnActionOverridesTheServersAndKeepsItsPromptOnlyWhenAsked() {
        Caller redacting = new Caller("k", "t", "o", "", true, new KeyPolicy(Set.of(), false, 0, 0, 0, false, Optional.of("redact"), true, Optional.empty()));
        List<GenerationEvent> events = events(stage(SafetyAction.FLAG, false).start(request(redacting, WITH_EMAIL)));
        assertEquals("Card [REDACTED_CREDIT_CARD] is on file.", text(events, 0));
        assertEquals(Optional.of("user: Write to [REDACTED_EMAIL] please\n"), screened(events).loggablePrompt());

        List<GenerationEvent> flagged = events(stage(SafetyAction.FLAG, false).start(request(Caller.ANONYMOUS, WITH_EMAIL)));
        assertEquals("Card 4111 1111 1111 1111 is on file.", text(flagged, 0), "flag changes nothing");
        assertEquals(Map.of("credit_card", 1), screened(flagged).output(), "but counts what it saw");
        assertEquals(Optional.empty(), screened(flagged).loggablePrompt());
    }
}
