package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.InputFormat;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.ChatModel;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionNamedToolChoice;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.StructuredChatCompletion;
import io.spillway.models.testing.SharedData;
import io.swagger.v3.oas.annotations.media.ArraySchema;
import io.swagger.v3.oas.annotations.media.Schema;
import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.testing.TestServers;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Structured outputs and required tool calls with the official OpenAI Java SDK against the
 * built-in demo model: its weights are random, so nothing but the grammar engine can make its
 * answers valid. Every answer must parse and validate against its schema with a JSON Schema
 * library, and every response must match OpenAI's OpenAPI description (the checking proxy).
 */
class StructuredOutputsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SchemaRegistry SCHEMAS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private static SpillwayServer server;
    private static SchemaCheckingProxy proxy;
    private static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        // No response cache: a streamed call must be generated, not replayed from the body before it.
        server = TestServers.start(Map.of("cache.enabled", "false"));
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
    void everythingTheSdkReceivedMatchedOpenAisSchemas() {
        assertEquals(List.of(), proxy.violations());
    }

    private static List<String> validate(JsonNode schema, String document) {
        return SCHEMAS.getSchema(schema.toString(), InputFormat.JSON)
                .validate(document, InputFormat.JSON, ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true)))
                .stream().map(Object::toString).toList();
    }

    private static Map<String, JsonValue> asMap(JsonNode node) {
        Map<String, JsonValue> out = new LinkedHashMap<>();
        node.fields().forEachRemaining(e -> out.put(e.getKey(), JsonValue.fromJsonNode(e.getValue())));
        return out;
    }

    /** A schema with the shapes agents use, varied by {@code seed}: nested objects, arrays, enums, optional fields, $defs. */
    static ObjectNode schema(int seed) throws Exception {
        Random r = new Random(seed);
        String[] leaves = {
                "{\"type\": \"string\", \"maxLength\": " + (3 + r.nextInt(12)) + "}",
                "{\"type\": \"integer\", \"minimum\": " + (-r.nextInt(50)) + ", \"maximum\": " + r.nextInt(1000) + "}",
                "{\"type\": \"number\", \"minimum\": 0, \"maximum\": 100}",
                "{\"type\": \"boolean\"}",
                "{\"enum\": [\"red\", \"green\", \"blue\", \"ünïcode\"]}",
                "{\"type\": \"string\", \"format\": \"date\"}",
                "{\"type\": \"string\", \"format\": \"uuid\"}",
                "{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-[0-9]{3}$\"}",
                "{\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 9}]}",
                "{\"$ref\": \"#/$defs/point\"}",
                "{\"type\": \"array\", \"items\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 99}, \"minItems\": 1, \"maxItems\": 4}",
                "{\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/point\"}, \"maxItems\": 3}",
                "{\"const\": \"fixed\"}"};
        StringBuilder properties = new StringBuilder();
        List<String> required = new ArrayList<>();
        int fields = 1 + r.nextInt(5);
        for (int i = 0; i < fields; i++) {
            String leaf = r.nextInt(5) == 0
                    ? "{\"type\": \"object\", \"properties\": {\"inner\": " + leaves[r.nextInt(leaves.length)] + ", \"extra\": "
                            + leaves[r.nextInt(leaves.length)] + "}, \"required\": [\"inner\"], \"additionalProperties\": false}"
                    : leaves[r.nextInt(leaves.length)];
            properties.append(i == 0 ? "" : ", ").append("\"f").append(i).append("\": ").append(leaf);
            if (r.nextInt(3) != 0) {
                required.add("\"f" + i + "\"");
            }
        }
        return (ObjectNode) JSON.readTree("{\"type\": \"object\", \"properties\": {" + properties + "}, \"required\": " + required
                + ", \"additionalProperties\": false, \"$defs\": {\"point\": {\"type\": \"object\", \"properties\": {\"x\":"
                + " {\"type\": \"integer\", \"minimum\": -5, \"maximum\": 5}, \"y\": {\"type\": \"integer\", \"minimum\": -5,"
                + " \"maximum\": 5}}, \"required\": [\"x\", \"y\"], \"additionalProperties\": false}}}");
    }

    @Test
    void aHundredAnswersUnderVariedSchemasAllParseAndValidate() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                int seed = i / 2;
                double temperature = i % 2;
                results.add(pool.submit(() -> {
                    ObjectNode schema = schema(seed);
                    ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                            .model(ChatModel.of(DemoModel.NAME)).addUserMessage("Fill in the record " + seed + ".").maxTokens(600)
                            .temperature(temperature).responseFormat(ResponseFormatJsonSchema.builder().jsonSchema(
                                    ResponseFormatJsonSchema.JsonSchema.builder().name("record").strict(true)
                                            .schema(ResponseFormatJsonSchema.JsonSchema.Schema.builder()
                                                    .putAllAdditionalProperties(asMap(schema)).build()).build()).build())
                            .build());
                    String content = c.choices().get(0).message().content().orElseThrow();
                    assertEquals("stop", c.choices().get(0).finishReason().asString(), "the document ended: " + content);
                    List<String> errors = validate(schema, content);
                    return errors.isEmpty() ? null : "schema " + seed + " at temperature " + temperature + ": " + errors + " in " + content;
                }));
            }
            List<String> failures = new ArrayList<>();
            for (Future<String> f : results) {
                String failure = f.get();
                if (failure != null) {
                    failures.add(failure);
                }
            }
            assertEquals(List.of(), failures);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * What the SDK's structured-output helper turns into a JSON schema and parses back. The bounds
     * are the SDK's own annotations: random weights wander in an unbounded string until max_tokens.
     */
    public record Forecast(
            @Schema(pattern = "^[A-Z][a-z]{1,15}$") String city,
            Unit unit,
            @ArraySchema(maxItems = 5, schema = @Schema(minimum = "-50", maximum = "60")) List<Integer> highs,
            boolean windy) {
        public enum Unit { CELSIUS, FAHRENHEIT }
    }

    @Test
    void theSdksTypedHelperGetsInstances() {
        for (double temperature : new double[] {0, 1}) {
            StructuredChatCompletion<Forecast> c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                    .model(ChatModel.of(DemoModel.NAME)).addUserMessage("Forecast for Paris.").maxTokens(300).temperature(temperature)
                    .responseFormat(Forecast.class).build());
            Forecast f = c.choices().get(0).message().content().orElseThrow();
            assertTrue(f.city().matches("[A-Z][a-z]{1,15}") && f.unit() != null && f.highs().size() <= 5, f.toString());
            assertTrue(f.highs().stream().allMatch(t -> t >= -50 && t <= 60), f.toString());
        }
    }

    private static final String WEATHER = """
            {"type": "object", "properties": {"location": {"type": "string", "maxLength": 12},
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"], "additionalProperties": false}""";
    private static final String TIME = """
            {"type": "object", "properties": {"zone": {"type": "string", "pattern": "^[A-Z]{3}$"}}, "required": ["zone"],
              "additionalProperties": false}""";

    private static ChatCompletionFunctionTool tool(String name, String parameters) throws Exception {
        return ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder().name(name).description("A tool.")
                .parameters(FunctionParameters.builder().putAllAdditionalProperties(asMap(JSON.readTree(parameters))).build()).build())
                .build();
    }

    private ChatCompletionCreateParams.Builder toolRequest(long seed) throws Exception {
        return ChatCompletionCreateParams.builder().model(ChatModel.of(DemoModel.NAME)).addUserMessage("Weather and time in Paris?")
                .maxTokens(400).temperature(1.0).seed(seed).addTool(tool("get_weather", WEATHER)).addTool(tool("get_time", TIME));
    }

    private static void assertValidCall(String name, String arguments) throws Exception {
        String schema = switch (name) {
            case "get_weather" -> WEATHER;
            case "get_time" -> TIME;
            default -> throw new AssertionError("no tool is named " + name);
        };
        assertEquals(List.of(), validate(JSON.readTree(schema), arguments), name + " " + arguments);
    }

    @Test
    void requiredAndNamedToolChoicesAlwaysReturnValidCallsStreamedOrNot() throws Exception {
        List<ChatCompletionCreateParams.Builder> requests = new ArrayList<>();
        for (long seed = 1; seed <= 6; seed++) {
            requests.add(toolRequest(seed).toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED));
            requests.add(toolRequest(seed).toolChoice(ChatCompletionNamedToolChoice.builder()
                    .function(ChatCompletionNamedToolChoice.Function.builder().name("get_time").build()).build()));
            requests.add(toolRequest(seed).toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED).parallelToolCalls(false));
        }
        for (int i = 0; i < requests.size(); i++) {
            ChatCompletion whole = client.chat().completions().create(requests.get(i).build());
            var choice = whole.choices().get(0);
            assertEquals("tool_calls", choice.finishReason().asString(), whole.toString());
            List<ChatCompletionMessageToolCall> calls = choice.message().toolCalls().orElseThrow();
            assertFalse(calls.isEmpty());
            assertTrue(choice.message().content().orElse("").isEmpty(), "the call's markup stays out of the content: " + whole);
            List<String> wholeCalls = new ArrayList<>();
            for (ChatCompletionMessageToolCall call : calls) {
                var fn = call.asFunction().function();
                assertValidCall(fn.name(), fn.arguments());
                if (i % 3 == 1) {
                    assertEquals("get_time", fn.name(), "the named tool");
                }
                wholeCalls.add(fn.name() + " " + fn.arguments());
            }
            if (i % 3 == 2) {
                assertEquals(1, calls.size(), "parallel_tool_calls false: one call");
            }

            // The same request streamed (same seed): its deltas reassembled are the same calls.
            Map<Long, String[]> streamed = new java.util.TreeMap<>();
            String finish = null;
            try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(requests.get(i).build())) {
                for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) stream.stream()::iterator) {
                    for (ChatCompletionChunk.Choice c : chunk.choices()) {
                        assertTrue(c.delta().content().orElse("").isEmpty(), "no markup leaks into content");
                        for (ChatCompletionChunk.Choice.Delta.ToolCall t : c.delta().toolCalls().orElse(List.of())) {
                            String[] call = streamed.computeIfAbsent(t.index(), k -> new String[] {"", ""});
                            t.function().flatMap(f -> f.name()).ifPresent(n -> call[0] = n);
                            call[1] += t.function().flatMap(f -> f.arguments()).orElse("");
                        }
                        if (c.finishReason().isPresent()) {
                            finish = c.finishReason().get().asString();
                        }
                    }
                }
            }
            assertEquals("tool_calls", finish);
            assertEquals(wholeCalls, streamed.values().stream().map(c -> c[0] + " " + c[1]).toList(), "streamed as whole");
        }
    }
}
