package io.spillway.server.router;

import static io.spillway.server.testing.Pipelines.answer;
import static io.spillway.server.testing.Pipelines.chat;
import static io.spillway.server.testing.Pipelines.events;
import static io.spillway.server.testing.Pipelines.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.KeyPolicy;
import io.spillway.server.generation.PiiOnSpill;
import io.spillway.server.generation.Refusal;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Usage;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The spill policy as a stage: what goes where, decided on typed requests, no socket anywhere. */
class SpillPolicyTest {

    private static final String BOTH = "both";
    private static final String REMOTE = "remote";
    private static final Usage USAGE = new Usage(1000, 500, 0, 0);

    /** Bedrock as the policy sees it: a generator that answers, and whether it may be tried. */
    private static final class Target extends Pipelines.Scripted implements SpillTarget {
        boolean available = true;

        Target() {
            this(r -> new Start.Accepted(answer(Route.BEDROCK, USAGE, "remote answer")));
        }

        Target(Function<GenerationRequest, Start> answers) {
            super(answers);
        }

        @Override
        public boolean available() {
            return available;
        }

        @Override
        public double typicalFirstTokenSeconds() {
            return 0;
        }
    }

    private Target bedrock = new Target();
    private double estimatedWait = 0;

    private SpillPolicy policy(Function<GenerationRequest, Start> local) {
        return policy(new Pipelines.Scripted(local));
    }

    private SpillPolicy policy(Pipelines.Scripted local) {
        ServerConfig.Router config = new ServerConfig.Router(1000, true, List.of(
                new ServerConfig.ModelRoute(BOTH, true, "qwen.qwen3-32b-v1:0", 0.001, 0.002),
                new ServerConfig.ModelRoute(REMOTE, false, "anthropic.claude", 0.003, 0.015)), "pseudonymize");
        return new SpillPolicy(local, "local-model", () -> estimatedWait, config, Optional.of(bedrock),
                java.util.EnumSet.allOf(io.spillway.server.platform.safety.PiiType.class), new PrometheusRegistry());
    }

    private static Start localAnswer(GenerationRequest r) {
        return new Start.Accepted(answer(Route.LOCAL, USAGE, "local answer"));
    }

    private static Route routeOf(List<GenerationEvent> events) {
        return ((GenerationEvent.Started) events.get(0)).route();
    }

    @Test
    void aModelWithBothRoutesRunsLocallyWhileTheEngineKeepsUp() {
        Pipelines.Scripted local = new Pipelines.Scripted(SpillPolicyTest::localAnswer);
        List<GenerationEvent> events = events(policy(local).start(request(Caller.ANONYMOUS, chat("{\"model\":\"both\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        assertEquals(Route.LOCAL, routeOf(events));
        assertEquals(0, bedrock.received.size());
        assertTrue(local.received.get(0).maxQueueWaitSeconds() > 0, "a spillable request carries its queue budget to the engine");
    }

    @ParameterizedTest
    @ValueSource(strings = {"queue full", "wait too long", "deadline passed"})
    void aRefusalFromTheLocalGeneratorBecomesABedrockGeneration(String why) {
        Refusal refusal = switch (why) {
            case "queue full" -> new Refusal.QueueFull("full", 1);
            case "wait too long" -> new Refusal.WaitTooLong("3 s > 1 s", 3);
            default -> new Refusal.DeadlinePassed("withdrawn", 1);
        };
        SpillPolicy policy = policy(r -> new Start.Refused(refusal));
        List<GenerationEvent> events = events(policy.start(request(Caller.ANONYMOUS, chat("{\"model\":\"both\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        assertEquals(Route.BEDROCK, routeOf(events));
        assertEquals("remote answer", Pipelines.text(events, 0));
        assertEquals(1, bedrock.received.size());
    }

    @Test
    void aLocalOnlyCallerIsNeverSpilledEvenWhenTheEngineRefuses() {
        Caller localOnly = new Caller("k1", "acme", "owner", "", true,
                new KeyPolicy(Set.of(), true, 0, 0, 0, false, Optional.empty(), false, Optional.empty()));
        estimatedWait = 60;
        Start start = policy(r -> new Start.Refused(new Refusal.QueueFull("full", 1)))
                .start(request(localOnly, chat("{\"model\":\"both\",\"messages\":[{\"role\":\"user\",\"content\":\"secret\"}]}")));
        assertInstanceOf(Start.Refused.class, start, "the refusal goes back to the caller as a 503, not to Bedrock");
        assertEquals(0, bedrock.received.size());
    }

    @Test
    void aLocalOnlyRequestIsNeverSpilled() {
        estimatedWait = 60;
        List<GenerationEvent> events = events(policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"route\":\"local-only\",\"messages\":[{\"role\":\"user\",\"content\":\"secret\"}]}"))));
        assertEquals(Route.LOCAL, routeOf(events));
        assertEquals(0, bedrock.received.size());
    }

    @Test
    void aLongExpectedWaitSpillsBeforeTheEngineIsAsked() {
        estimatedWait = 5;
        Pipelines.Scripted local = new Pipelines.Scripted(SpillPolicyTest::localAnswer);
        List<GenerationEvent> events = events(policy(local).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        assertEquals(Route.BEDROCK, routeOf(events));
        assertEquals(0, local.received.size());
    }

    @Test
    void whatConverseCannotExpressStaysLocalAndIsRefusedByABedrockOnlyModel() {
        estimatedWait = 60;
        List<GenerationEvent> events = events(policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        assertEquals(Route.LOCAL, routeOf(events));
        OpenAiException e = assertThrows(OpenAiException.class, () -> policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"remote\",\"n\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        assertEquals(400, e.status());
        assertEquals("n", e.param());
    }

    @Test
    void retrievalStaysLocal() {
        estimatedWait = 60;
        List<GenerationEvent> events = events(policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"rag\":{\"collection\":\"docs\"},\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}"))));
        assertEquals(Route.LOCAL, routeOf(events));
    }

    @Test
    void anOpenBreakerKeepsRequestsLocalAndPassesTheRefusalOn() {
        bedrock.available = false;
        Start start = policy(r -> new Start.Refused(new Refusal.QueueFull("full", 2))).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")));
        assertInstanceOf(Start.Refused.class, start);
        assertEquals(0, bedrock.received.size());
    }

    @Test
    void everyRouteIsPricedFromTheSameTable() {
        estimatedWait = 60;
        List<GenerationEvent> remote = events(policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        estimatedWait = 0;
        List<GenerationEvent> local = events(policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"both\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        double expected = 1000 / 1000.0 * 0.001 + 500 / 1000.0 * 0.002;
        assertEquals(expected, ((GenerationEvent.Completed) remote.get(remote.size() - 1)).usage().costUsd(), 1e-12);
        assertEquals(expected, ((GenerationEvent.Completed) local.get(local.size() - 1)).usage().costUsd(), 1e-12);
    }

    @Test
    void legacyCompletionsAreLocalAndUnknownModelsAre404() {
        OpenAiException e = assertThrows(OpenAiException.class, () -> policy(SpillPolicyTest::localAnswer).start(
                new GenerationRequest("r", Caller.ANONYMOUS, Pipelines.completion("{\"model\":\"remote\",\"prompt\":\"x\"}"), 0)));
        assertEquals(404, e.status());
        e = assertThrows(OpenAiException.class, () -> policy(SpillPolicyTest::localAnswer).start(request(Caller.ANONYMOUS,
                chat("{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))));
        assertEquals(404, e.status());
    }
    private static final String PRIVATE = "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Write to ann@example.com about card 4111 1111 1111 1111.\"}]}";

    private static Caller withPiiOnSpill(PiiOnSpill policy) {
        return new Caller("k1", "acme", "owner", "", true,
                new KeyPolicy(Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.of(policy)));
    }

    private static List<String> reasonsOf(List<GenerationEvent> events) {
        return ((GenerationEvent.Started) events.get(0)).routeReasons();
    }

    @Test
    void underLocalOnlyAConversationWithPersonalDataStaysLocalWhileOthersSpill() {
        estimatedWait = 60;
        Caller caller = withPiiOnSpill(PiiOnSpill.LOCAL_ONLY);
        Pipelines.Scripted local = new Pipelines.Scripted(SpillPolicyTest::localAnswer);
        List<GenerationEvent> kept = events(policy(local).start(request(caller, chat(PRIVATE.formatted(BOTH)))));
        assertEquals(Route.LOCAL, routeOf(kept));
        assertEquals(List.of("pii_local_only"), reasonsOf(kept));
        assertEquals(0, local.received.get(0).maxQueueWaitSeconds(), "it waits for the local engine, with no budget to spill on");
        assertEquals(0, bedrock.received.size());

        List<GenerationEvent> spilled = events(policy(local).start(request(caller, chat(
                "{\"model\":\"both\",\"messages\":[{\"role\":\"user\",\"content\":\"nothing personal\"}]}"))));
        assertEquals(Route.BEDROCK, routeOf(spilled));
        assertEquals(List.of("queue_wait"), reasonsOf(spilled));
    }

    @Test
    void underLocalOnlyAnOverloadedEngineRefusesPersonalDataInsteadOfSpillingIt() {
        estimatedWait = 0;
        Start start = policy(r -> new Start.Refused(new Refusal.QueueFull("full", 3)))
                .start(request(withPiiOnSpill(PiiOnSpill.LOCAL_ONLY), chat(PRIVATE.formatted(BOTH))));
        assertInstanceOf(Start.Refused.class, start, "a 503 with Retry-After, never Bedrock");
        assertEquals(0, bedrock.received.size());
    }

    @Test
    void underLocalOnlyABedrockOnlyModelRefusesPersonalDataNamingOnlyItsTypes() {
        OpenAiException e = assertThrows(OpenAiException.class, () -> policy(SpillPolicyTest::localAnswer)
                .start(request(withPiiOnSpill(PiiOnSpill.LOCAL_ONLY), chat(PRIVATE.formatted(REMOTE)))));
        assertEquals(400, e.status());
        assertEquals("pii_requires_local", e.code());
        assertTrue(e.getMessage().contains("credit_card, email"), e.getMessage());
        assertFalse(e.getMessage().contains("ann@") || e.getMessage().contains("4111"), "never the values: " + e.getMessage());
        assertEquals(0, bedrock.received.size());
    }

    @Test
    void pseudonymizedValuesNeverReachBedrockAndComeBackInTheAnswer() {
        // The hosted model echoes what it was sent, in pieces that split the placeholders.
        bedrock = new Target(r -> {
            String sent = r.chat().orElseThrow().messages().get(0).content();
            return new Start.Accepted(answer(Route.BEDROCK, USAGE, "Echo: " + sent.substring(0, 20), sent.substring(20, 33),
                    sent.substring(33)));
        });
        List<GenerationEvent> events = events(policy(SpillPolicyTest::localAnswer)
                .start(request(withPiiOnSpill(PiiOnSpill.PSEUDONYMIZE), chat(PRIVATE.formatted(REMOTE)))));
        String sent = bedrock.received.get(0).chat().orElseThrow().messages().get(0).content();
        assertEquals("Write to <EMAIL_1> about card <CARD_1>.", sent);
        assertEquals("Echo: Write to ann@example.com about card 4111 1111 1111 1111.", Pipelines.text(events, 0));
        assertEquals(List.of("model_not_local", "pseudonymized"), reasonsOf(events));
    }

    @Test
    void redactAndAllowSendWhatTheySay() {
        policy(SpillPolicyTest::localAnswer).start(request(withPiiOnSpill(PiiOnSpill.REDACT), chat(PRIVATE.formatted(REMOTE))));
        assertEquals("Write to [REDACTED_EMAIL] about card [REDACTED_CREDIT_CARD].",
                bedrock.received.get(0).chat().orElseThrow().messages().get(0).content());
        List<GenerationEvent> allowed = events(policy(SpillPolicyTest::localAnswer)
                .start(request(withPiiOnSpill(PiiOnSpill.ALLOW), chat(PRIVATE.formatted(REMOTE)))));
        assertEquals("Write to ann@example.com about card 4111 1111 1111 1111.",
                bedrock.received.get(1).chat().orElseThrow().messages().get(0).content());
        assertEquals(List.of("model_not_local", "pii_allowed"), reasonsOf(allowed));
    }
}
