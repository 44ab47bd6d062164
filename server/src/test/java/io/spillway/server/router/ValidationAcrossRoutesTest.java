package io.spillway.server.router;

import static io.spillway.server.testing.Pipelines.answer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.generation.Caller;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.Start;
import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One request, three ways to run it: on the local engine, spilled from a model with both routes,
 * and on a Bedrock-only model. Whatever the validation refuses, it refuses the same way on all
 * three; whatever it accepts reaches Bedrock whole (five stop strings stay five).
 */
class ValidationAcrossRoutesTest {

    private static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    static Stream<Arguments> requests() {
        return Stream.of(
                Arguments.of("five stop strings", "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", 200),
                Arguments.of("sixteen stop strings", "\"stop\":[" + "\"s\",".repeat(15) + "\"t\"]", 200),
                Arguments.of("seventeen stop strings", "\"stop\":[" + "\"s\",".repeat(16) + "\"t\"]", 400),
                Arguments.of("an empty stop string", "\"stop\":[\"\"]", 400),
                Arguments.of("temperature above 2", "\"temperature\":2.5", 400),
                Arguments.of("top_p of 0", "\"top_p\":0", 400),
                Arguments.of("max_tokens of 0", "\"max_tokens\":0", 400),
                Arguments.of("stream_options without stream", "\"stream_options\":{\"include_usage\":true}", 400),
                Arguments.of("include_usage of the wrong type", "\"stream\":true,\"stream_options\":{\"include_usage\":\"yes\"}", 400),
                Arguments.of("a user tag that is not a string", "\"user\":7", 400),
                Arguments.of("a JSON schema response format", "\"response_format\":{\"type\":\"json_schema\"}", 400));
    }

    /** The outcome, as a client would tell outcomes apart: 200, or the status, parameter and message of the error. */
    private static String outcome(SpillPolicy policy, String model, String fields) {
        try {
            ChatRequest chat = Pipelines.chat("{\"model\":\"" + model + "\"," + MESSAGES + "," + fields + "}");
            Start start = policy.start(new GenerationRequest("r", Caller.ANONYMOUS, chat, System.nanoTime()));
            assertInstanceOf(Start.Accepted.class, start);
            return "200";
        } catch (OpenAiException e) {
            return e.status() + " " + e.param() + ": " + e.getMessage();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("requests")
    void isRefusedOrAcceptedTheSameOnEveryRoute(String name, String fields, int status) {
        List<ChatRequest> sentToBedrock = new ArrayList<>();
        SpillTarget bedrock = new SpillTarget() {
            @Override
            public Start start(GenerationRequest request) {
                ChatRequest chat = request.chat().orElseThrow();
                // What Bedrock would be sent must be expressible in full.
                assertNotNull(ConverseTranslation.request(chat));
                assertEquals(chat.options().stop().size(), ConverseTranslation.request(chat).inference().stopSequences().size());
                sentToBedrock.add(chat);
                return new Start.Accepted(answer(Route.BEDROCK, Usage.NONE, "ok"));
            }

            @Override
            public boolean available() {
                return true;
            }

            @Override
            public double typicalFirstTokenSeconds() {
                return 0;
            }
        };
        double[] wait = {0};
        ServerConfig.Router config = new ServerConfig.Router(1000, true, List.of(
                new ServerConfig.ModelRoute("both", true, "qwen.qwen3-32b-v1:0", 0, 0),
                new ServerConfig.ModelRoute("remote", false, "anthropic.claude", 0, 0)), "pseudonymize");
        SpillPolicy policy = new SpillPolicy(new Pipelines.Scripted(r -> new Start.Accepted(answer(Route.LOCAL, Usage.NONE, "ok"))),
                "local-model", () -> wait[0], config, Optional.of(bedrock),
                java.util.EnumSet.allOf(io.spillway.server.platform.safety.PiiType.class), new PrometheusRegistry());

        String local = outcome(policy, "both", fields);
        wait[0] = 60;
        String spilled = outcome(policy, "both", fields);
        String remote = outcome(policy, "remote", fields);

        assertEquals(status, Integer.parseInt(local.substring(0, 3)), local);
        assertEquals(local, spilled, "local and spilled");
        assertEquals(local, remote, "local and Bedrock-only");
        assertEquals(status == 200 ? 2 : 0, sentToBedrock.size(), "what was accepted reached Bedrock from both Bedrock routes");
    }
}
