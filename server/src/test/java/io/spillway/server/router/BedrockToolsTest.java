package io.spillway.server.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.models.ChatModel;
import com.openai.models.FunctionDefinition;
import com.openai.models.FunctionParameters;
import com.openai.models.ResponseFormatJsonObject;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessage;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionMessageToolCall;
import com.openai.models.chat.completions.ChatCompletionNamedToolChoice;
import com.openai.models.chat.completions.ChatCompletionToolChoiceOption;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import com.openai.models.chat.completions.StructuredChatCompletion;
import io.spillway.models.testing.SharedData;
import io.spillway.server.SpillwayServer;
import io.spillway.server.api.OpenApiSchemas;
import io.spillway.server.api.SchemaCheckingProxy;
import io.spillway.server.testing.TestServers;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tools and JSON response formats on the Bedrock route, the same contract as on the local engine:
 * the official OpenAI SDK, through the proxy that checks every response against OpenAI's OpenAPI
 * description, against a real server whose model lives only on Bedrock, here {@link FakeBedrock}
 * with the real AWS SDK between them. Each test scripts what the model answers and asserts both
 * what Converse was sent and what the client got.
 */
class BedrockToolsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL = "claude";
    private static final String WEATHER = """
            {"type": "object", "properties": {"location": {"type": "string"},
              "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"], "additionalProperties": false}""";
    private static final String TIME = """
            {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}""";
    /** Inputs as a model streams them: spaces, nesting, escapes and non-ASCII, which fragments must not disturb. */
    private static final FakeBedrock.ToolUse WEATHER_CALL = new FakeBedrock.ToolUse("tooluse_w1", "get_weather",
            "{\"location\": \"Zürich, \\\"CH\\\"\", \"unit\": \"celsius\"}");
    private static final FakeBedrock.ToolUse TIME_CALL = new FakeBedrock.ToolUse("tooluse_t2", "get_time", "{\"zone\": \"CET\"}");

    private static FakeBedrock fake;
    private static SpillwayServer server;
    private static SchemaCheckingProxy proxy;
    private static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        FakeBedrock.installTestCredentials();
        fake = new FakeBedrock(0);
        // No response cache: every request must reach Bedrock, streamed ones too.
        server = TestServers.start(Map.of("cache.enabled", "false"), """
                router:
                  models:
                    - name: %s
                      local: false
                      bedrock-model-id: anthropic.claude-3-haiku-20240307-v1:0
                      input-price-per-1k: 0.00025
                      output-price-per-1k: 0.00125
                bedrock:
                  endpoint: %s
                  region: us-east-1
                """.formatted(MODEL, fake.endpoint()));
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
        if (fake != null) {
            fake.close();
        }
    }

    @BeforeEach
    void forgetEarlierRequests() {
        fake.received.clear();
    }

    @AfterEach
    void everythingTheSdkReceivedMatchedOpenAisSchemas() {
        assertEquals(List.of(), proxy.violations());
    }

    private static ChatCompletionFunctionTool tool(String name, String description, String parameters) throws Exception {
        Map<String, JsonValue> schema = new LinkedHashMap<>();
        JSON.readTree(parameters).fields().forEachRemaining(e -> schema.put(e.getKey(), JsonValue.fromJsonNode(e.getValue())));
        return ChatCompletionFunctionTool.builder().function(FunctionDefinition.builder().name(name).description(description)
                .parameters(FunctionParameters.builder().putAllAdditionalProperties(schema).build()).build()).build();
    }

    private static ChatCompletionCreateParams.Builder toolRequest() throws Exception {
        return ChatCompletionCreateParams.builder().model(ChatModel.of(MODEL)).addUserMessage("Weather and time in Zürich?")
                .addTool(tool("get_weather", "Weather for a place.", WEATHER)).addTool(tool("get_time", "Time in a zone.", TIME));
    }

    /** The one request Bedrock received since the test began or last cleared {@code fake.received}. */
    private static FakeBedrock.Received sent() {
        assertEquals(1, fake.received.size(), "one request reached Bedrock");
        return fake.received.get(0);
    }

    private static JsonNode json(String text) throws Exception {
        return JSON.readTree(text);
    }

    private static void assertCall(FakeBedrock.ToolUse expected, ChatCompletionMessageToolCall call) throws Exception {
        assertTrue(call.isFunction(), "type function: " + call);
        ChatCompletionMessageFunctionToolCall f = call.asFunction();
        assertEquals(expected.id(), f.id());
        assertEquals(expected.name(), f.function().name());
        assertEquals(json(expected.input()), json(f.function().arguments()), "arguments are the input, as a JSON string");
    }

    @Test
    void eachToolChoiceIsSentAsConverseToolConfig() throws Exception {
        // OpenAI's tool_choice (none given means auto), and the toolChoice Converse must be sent.
        record Choice(ChatCompletionCreateParams.Builder request, String toolChoice) {
        }
        List<Choice> choices = List.of(
                new Choice(toolRequest(), "{\"auto\": {}}"),
                new Choice(toolRequest().toolChoice(ChatCompletionToolChoiceOption.Auto.AUTO), "{\"auto\": {}}"),
                new Choice(toolRequest().toolChoice(ChatCompletionToolChoiceOption.Auto.REQUIRED), "{\"any\": {}}"),
                new Choice(toolRequest().toolChoice(ChatCompletionNamedToolChoice.builder()
                        .function(ChatCompletionNamedToolChoice.Function.builder().name("get_time").build()).build()),
                        "{\"tool\": {\"name\": \"get_time\"}}"));
        for (Choice choice : choices) {
            fake.received.clear();
            fake.replyWithTools("", 3, TIME_CALL);
            ChatCompletion c = client.chat().completions().create(choice.request().build());

            JsonNode config = sent().body().get("toolConfig");
            assertEquals(json(choice.toolChoice()), config.get("toolChoice"), "tool_choice as Converse's toolChoice: " + config);
            JsonNode tools = config.get("tools");
            assertEquals(2, tools.size(), tools.toString());
            assertEquals("get_weather", tools.at("/0/toolSpec/name").asText());
            assertEquals("Weather for a place.", tools.at("/0/toolSpec/description").asText());
            assertEquals(json(WEATHER), tools.at("/0/toolSpec/inputSchema/json"));
            assertEquals("get_time", tools.at("/1/toolSpec/name").asText());
            assertEquals("Time in a zone.", tools.at("/1/toolSpec/description").asText());
            assertEquals(json(TIME), tools.at("/1/toolSpec/inputSchema/json"));

            assertEquals("tool_calls", c.choices().get(0).finishReason().asString());
            assertTrue(c.choices().get(0).message().content().isEmpty(), "a message that only calls has no content: " + c);
            assertCall(TIME_CALL, c.choices().get(0).message().toolCalls().orElseThrow().get(0));
            assertEquals(1, c.choices().get(0).message().toolCalls().get().size());
        }
    }

    @Test
    void parallelCallsComeBackInOrderWithTheTextBeforeThem() throws Exception {
        fake.replyWithTools("Let me look both up.", 5, WEATHER_CALL, TIME_CALL);
        ChatCompletion c = client.chat().completions().create(toolRequest().build());
        ChatCompletionMessage m = c.choices().get(0).message();
        assertEquals("Let me look both up.", m.content().orElseThrow());
        List<ChatCompletionMessageToolCall> calls = m.toolCalls().orElseThrow();
        assertEquals(2, calls.size(), m.toString());
        assertCall(WEATHER_CALL, calls.get(0));
        assertCall(TIME_CALL, calls.get(1));
        assertEquals("tool_calls", c.choices().get(0).finishReason().asString());
        assertTrue(c.usage().orElseThrow().completionTokens() > 0);
    }

    @Test
    void withoutParallelCallsTheClientGetsTheFirstCallAlone() throws Exception {
        // Converse cannot be told to call one tool at most: its answer is cut to the first call, as
        // the local engine's grammar allows one.
        fake.replyWithTools("", 4, WEATHER_CALL, TIME_CALL);
        ChatCompletionCreateParams request = toolRequest().parallelToolCalls(false).build();
        ChatCompletion c = client.chat().completions().create(request);
        List<ChatCompletionMessageToolCall> calls = c.choices().get(0).message().toolCalls().orElseThrow();
        assertEquals(1, calls.size(), c.toString());
        assertCall(WEATHER_CALL, calls.get(0));
        assertEquals("tool_calls", c.choices().get(0).finishReason().asString());

        Map<Long, StringBuilder> streamed = new TreeMap<>();
        StringBuilder content = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(request)) {
            for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) stream.stream()::iterator) {
                for (ChatCompletionChunk.Choice ch : chunk.choices()) {
                    ch.delta().content().ifPresent(content::append);
                    for (ChatCompletionChunk.Choice.Delta.ToolCall t : ch.delta().toolCalls().orElse(List.of())) {
                        streamed.computeIfAbsent(t.index(), i -> new StringBuilder()).append(t.function().flatMap(f -> f.arguments()).orElse(""));
                    }
                }
            }
        }
        assertEquals(List.of(0L), List.copyOf(streamed.keySet()), "one call streamed");
        assertEquals(WEATHER_CALL.input(), streamed.get(0L).toString());
        assertEquals("", content.toString(), "nothing of the dropped call leaks into content");
    }

    /** A streamed tool call, as a client reassembles it. */
    private record StreamedCall(String id, String type, String name, StringBuilder arguments, List<String> fragments) {
    }

    @Test
    void streamedCallsComeAsIdAndNameThenArgumentFragmentsAndReassembleToTheWholeCalls() throws Exception {
        fake.replyWithTools("Let me look both up.", 4, WEATHER_CALL, TIME_CALL);
        ChatCompletion whole = client.chat().completions().create(toolRequest().build());
        assertFalse(sent().stream());
        fake.received.clear();

        Map<Long, StreamedCall> calls = new TreeMap<>();
        StringBuilder content = new StringBuilder();
        List<String> finishes = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(toolRequest().build())) {
            for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) stream.stream()::iterator) {
                for (ChatCompletionChunk.Choice c : chunk.choices()) {
                    c.delta().content().ifPresent(content::append);
                    for (ChatCompletionChunk.Choice.Delta.ToolCall t : c.delta().toolCalls().orElse(List.of())) {
                        StreamedCall call = calls.get(t.index());
                        if (call == null) {
                            // The call's first delta names it: id, type and function name together.
                            assertTrue(t.id().isPresent() && t.type().isPresent() && t.function().flatMap(f -> f.name()).isPresent(),
                                    "the first delta of call " + t.index() + " names it: " + t);
                            call = new StreamedCall(t.id().get(), t.type().get().asString(),
                                    t.function().get().name().get(), new StringBuilder(), new ArrayList<>());
                            calls.put(t.index(), call);
                        } else {
                            assertTrue(t.id().isEmpty() && t.function().flatMap(f -> f.name()).isEmpty(),
                                    "later deltas carry arguments only: " + t);
                        }
                        String fragment = t.function().flatMap(f -> f.arguments()).orElse("");
                        call.arguments().append(fragment);
                        if (!fragment.isEmpty()) {
                            call.fragments().add(fragment);
                        }
                    }
                    c.finishReason().ifPresent(f -> finishes.add(f.asString()));
                }
            }
        }
        assertTrue(sent().stream());
        assertEquals(List.of("tool_calls"), finishes);
        assertEquals("Let me look both up.", content.toString(), "the text, and nothing of the calls, is content");
        assertEquals(List.of(0L, 1L), List.copyOf(calls.keySet()), "calls indexed from 0 in the answer's order");
        List<ChatCompletionMessageToolCall> expected = whole.choices().get(0).message().toolCalls().orElseThrow();
        for (int i = 0; i < 2; i++) {
            StreamedCall s = calls.get((long) i);
            ChatCompletionMessageFunctionToolCall w = expected.get(i).asFunction();
            assertEquals("function", s.type());
            assertEquals(w.id(), s.id());
            assertEquals(w.function().name(), s.name());
            assertEquals(json(w.function().arguments()), json(s.arguments().toString()), "streamed as whole");
            assertTrue(s.fragments().size() > 1, "the arguments streamed in fragments, as Bedrock sent them: " + s.fragments());
        }
        assertEquals(WEATHER_CALL.input(), calls.get(0L).arguments().toString(), "fragments are passed on as Bedrock sent them");
    }

    @Test
    void aConversationRoundTripsAsToolUseAndToolResultBlocks() throws Exception {
        fake.replyWithTools("", 5, WEATHER_CALL, TIME_CALL);
        ChatCompletion first = client.chat().completions().create(toolRequest().build());
        ChatCompletionMessage asked = first.choices().get(0).message();
        List<ChatCompletionMessageToolCall> calls = asked.toolCalls().orElseThrow();

        fake.received.clear();
        fake.reply("It is 18 °C in Zürich and 14:00 CET.", 0);
        ChatCompletion answer = client.chat().completions().create(toolRequest().addMessage(asked)
                .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(calls.get(0).asFunction().id())
                        .content("{\"celsius\": 18}").build())
                .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(calls.get(1).asFunction().id())
                        .content("14:00").build())
                .build());
        assertEquals("It is 18 °C in Zürich and 14:00 CET.", answer.choices().get(0).message().content().orElseThrow());
        assertEquals("stop", answer.choices().get(0).finishReason().asString());

        JsonNode messages = sent().body().get("messages");
        assertEquals(3, messages.size(), "user, assistant's calls, user's results: " + messages);
        assertEquals("Weather and time in Zürich?", messages.at("/0/content/0/text").asText());
        JsonNode assistant = messages.get(1);
        assertEquals("assistant", assistant.get("role").asText());
        assertEquals(2, assistant.get("content").size(), "a message that only calls has no text block: " + assistant);
        for (int i = 0; i < 2; i++) {
            FakeBedrock.ToolUse call = i == 0 ? WEATHER_CALL : TIME_CALL;
            JsonNode use = assistant.at("/content/" + i + "/toolUse");
            assertEquals(call.id(), use.get("toolUseId").asText());
            assertEquals(call.name(), use.get("name").asText());
            assertEquals(json(call.input()), use.get("input"), "the arguments string as Converse's input object");
        }
        JsonNode results = messages.get(2);
        assertEquals("user", results.get("role").asText());
        assertEquals(2, results.get("content").size(), "both results in one user turn: " + results);
        assertEquals(WEATHER_CALL.id(), results.at("/content/0/toolResult/toolUseId").asText());
        assertEquals("{\"celsius\": 18}", results.at("/content/0/toolResult/content/0/text").asText());
        assertEquals(TIME_CALL.id(), results.at("/content/1/toolResult/toolUseId").asText());
        assertEquals("14:00", results.at("/content/1/toolResult/content/0/text").asText());
        assertEquals(json("{\"auto\": {}}"), sent().body().at("/toolConfig/toolChoice"));
    }

    private static java.net.http.HttpResponse<String> postChat(String messages) throws Exception {
        String body = "{\"model\": \"" + MODEL + "\", \"messages\": " + messages + "}";
        return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create(TestServers.baseUrl(server) + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aConversationConverseCannotTakeIsRefusedBeforeBedrock() throws Exception {
        int callsBefore = fake.calls.get();
        // An earlier call whose arguments are not a JSON object: Converse's input must be one, and
        // substituting {} would tell the model it called with nothing.
        var brokenArguments = postChat("""
                [{"role": "user", "content": "Weather?"},
                 {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                   "function": {"name": "get_weather", "arguments": "{\\"location\\": "}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "18"}]""");
        assertEquals(400, brokenArguments.statusCode(), brokenArguments.body());
        assertTrue(brokenArguments.body().contains("get_weather") && brokenArguments.body().contains("not a JSON object"),
                brokenArguments.body());
        // A tool's result that answers no call of this conversation.
        var resultFirst = postChat("[{\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"18\"}]");
        assertEquals(400, resultFirst.statusCode(), resultFirst.body());
        assertTrue(resultFirst.body().contains("must start with a user message"), resultFirst.body());
        assertEquals(callsBefore, fake.calls.get(), "nothing reached Bedrock");
    }

    @Test
    void toolChoiceNoneOffersNoTool() throws Exception {
        fake.reply("No tools needed.", 0);
        ChatCompletion c = client.chat().completions().create(toolRequest().toolChoice(ChatCompletionToolChoiceOption.Auto.NONE).build());
        assertEquals("No tools needed.", c.choices().get(0).message().content().orElseThrow());
        assertEquals("stop", c.choices().get(0).finishReason().asString());
        // Converse's toolChoice has no "none": the tools are withheld, so the model cannot call one.
        assertTrue(sent().body().path("toolConfig").isMissingNode(), "no tools offered: " + sent().body());
    }

    @Test
    void toolChoiceNoneAfterToolCallsKeepsTheToolsAndForcesNoCall() throws Exception {
        fake.replyWithTools("", 5, TIME_CALL);
        ChatCompletionMessage asked = client.chat().completions().create(toolRequest().build()).choices().get(0).message();
        fake.received.clear();
        fake.reply("It is 14:00.", 0);
        ChatCompletion c = client.chat().completions().create(toolRequest().toolChoice(ChatCompletionToolChoiceOption.Auto.NONE)
                .addMessage(asked).addMessage(ChatCompletionToolMessageParam.builder().toolCallId(TIME_CALL.id()).content("14:00").build())
                .build());
        assertEquals("It is 14:00.", c.choices().get(0).message().content().orElseThrow());
        // Converse reads tool blocks only with a toolConfig, and its toolChoice has no "none": the
        // tools are there, and the choice is the model's (auto), never a forced call.
        JsonNode config = sent().body().get("toolConfig");
        assertEquals(2, config.get("tools").size(), config.toString());
        assertEquals(json("{\"auto\": {}}"), config.get("toolChoice"));
    }

    @Test
    void aConversationThatNoLongerOffersToolsStillCarriesItsCalls() throws Exception {
        fake.replyWithTools("", 5, TIME_CALL);
        ChatCompletionMessage asked = client.chat().completions().create(toolRequest().build()).choices().get(0).message();
        fake.received.clear();
        fake.reply("It is 14:00.", 0);
        // A client done with tools (a summary, a last answer) sends the history without them.
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model(ChatModel.of(MODEL))
                .addUserMessage("Weather and time in Zürich?").addMessage(asked)
                .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(TIME_CALL.id()).content("14:00").build()).build());
        assertEquals("It is 14:00.", c.choices().get(0).message().content().orElseThrow());
        JsonNode body = sent().body();
        assertEquals(TIME_CALL.id(), body.at("/messages/1/content/0/toolUse/toolUseId").asText());
        assertEquals(TIME_CALL.id(), body.at("/messages/2/content/0/toolResult/toolUseId").asText());
        // Converse reads tool blocks only with a toolConfig: the tools the history calls, none forced.
        assertEquals("get_time", body.at("/toolConfig/tools/0/toolSpec/name").asText(), body.toString());
        assertEquals(1, body.at("/toolConfig/tools").size());
        assertEquals(json("{\"auto\": {}}"), body.at("/toolConfig/toolChoice"));
    }

    @Test
    void aCallTheClientForbadeNeverReachesIt() throws Exception {
        fake.replyWithTools("", 5, TIME_CALL);
        ChatCompletionMessage asked = client.chat().completions().create(toolRequest().build()).choices().get(0).message();
        // tool_choice none, yet Converse must be offered the tools (the history holds tool blocks):
        // should the model call one anyway, the client, which forbade calls, gets the text alone.
        fake.replyWithTools("Checking again.", 4, TIME_CALL);
        ChatCompletionCreateParams request = toolRequest().toolChoice(ChatCompletionToolChoiceOption.Auto.NONE).addMessage(asked)
                .addMessage(ChatCompletionToolMessageParam.builder().toolCallId(TIME_CALL.id()).content("14:00").build()).build();
        ChatCompletion c = client.chat().completions().create(request);
        assertEquals("Checking again.", c.choices().get(0).message().content().orElseThrow());
        assertTrue(c.choices().get(0).message().toolCalls().isEmpty(), c.toString());
        assertEquals("stop", c.choices().get(0).finishReason().asString());

        StringBuilder content = new StringBuilder();
        List<String> finishes = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(request)) {
            for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) stream.stream()::iterator) {
                for (ChatCompletionChunk.Choice ch : chunk.choices()) {
                    ch.delta().content().ifPresent(content::append);
                    assertTrue(ch.delta().toolCalls().orElse(List.of()).isEmpty(), "no call is streamed: " + chunk);
                    ch.finishReason().ifPresent(f -> finishes.add(f.asString()));
                }
            }
        }
        assertEquals("Checking again.", content.toString());
        assertEquals(List.of("stop"), finishes);
    }

    @Test
    void toolsAreSentInTheShapesConverseTakes() throws Exception {
        fake.replyWithTools("", 5, new FakeBedrock.ToolUse("tooluse_n", "now", "{}"));
        // OpenAI takes an empty description and parameters without a type; Converse takes neither.
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model(ChatModel.of(MODEL))
                .addUserMessage("What now?").addTool(tool("now", "", "{}"))
                .addTool(tool("search", "Search the web.", "{\"properties\": {\"q\": {\"type\": \"string\"}}}")).build());
        assertEquals("now", c.choices().get(0).message().toolCalls().orElseThrow().get(0).asFunction().function().name());
        JsonNode tools = sent().body().at("/toolConfig/tools");
        assertFalse(tools.at("/0/toolSpec").has("description"), "an empty description is no description: " + tools);
        assertEquals("object", tools.at("/0/toolSpec/inputSchema/json/type").asText(), tools.toString());
        assertEquals(json("{\"type\": \"object\", \"properties\": {\"q\": {\"type\": \"string\"}}}"),
                tools.at("/1/toolSpec/inputSchema/json"), "arguments are an object: the schema says so, the rest as sent");
    }

    @Test
    void aToolNameConverseRefusesIsRefusedBeforeBedrock() throws Exception {
        // Spillway takes dots in function names, Converse does not: such a request is not Bedrock's
        // to serve (a model with a local route keeps it local), nor a Bedrock failure.
        int callsBefore = fake.calls.get();
        com.openai.errors.BadRequestException e = org.junit.jupiter.api.Assertions.assertThrows(
                com.openai.errors.BadRequestException.class, () -> client.chat().completions().create(ChatCompletionCreateParams
                        .builder().model(ChatModel.of(MODEL)).addUserMessage("Weather?").addTool(tool("weather.get", "Weather.", WEATHER))
                        .build()));
        assertTrue(e.getMessage().contains("cannot serve this request") && e.getMessage().contains("weather.get"), e.getMessage());
        assertEquals(callsBefore, fake.calls.get(), "nothing reached Bedrock");
    }

    private static final String ANSWER_SCHEMA = """
            {"type": "object", "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"},
              "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["city", "celsius", "tags"],
              "additionalProperties": false}""";
    private static final String ANSWER = "{\"city\": \"Zürich\", \"celsius\": 18, \"tags\": [\"mild\", \"dry \\\"air\\\"\"]}";

    private static ChatCompletionCreateParams.Builder schemaRequest() throws Exception {
        Map<String, JsonValue> schema = new LinkedHashMap<>();
        json(ANSWER_SCHEMA).fields().forEachRemaining(e -> schema.put(e.getKey(), JsonValue.fromJsonNode(e.getValue())));
        return ChatCompletionCreateParams.builder().model(ChatModel.of(MODEL)).addUserMessage("Weather in Zürich as a record.")
                .responseFormat(ResponseFormatJsonSchema.builder().jsonSchema(ResponseFormatJsonSchema.JsonSchema.builder()
                        .name("weather").strict(true).schema(ResponseFormatJsonSchema.JsonSchema.Schema.builder()
                                .putAllAdditionalProperties(schema).build()).build()).build());
    }

    private static void assertForcedResponseTool(JsonNode body, JsonNode schema) {
        JsonNode config = body.get("toolConfig");
        assertEquals(1, config.get("tools").size(), "the response tool alone: " + config);
        assertEquals(ConverseTranslation.RESPONSE_TOOL, config.at("/tools/0/toolSpec/name").asText());
        assertEquals(schema, config.at("/tools/0/toolSpec/inputSchema/json"), "its input schema is the requested one");
        assertEquals(ConverseTranslation.RESPONSE_TOOL, config.at("/toolChoice/tool/name").asText(), "and its call is forced");
    }

    @Test
    void aJsonSchemaIsAForcedToolWhoseInputIsTheContent() throws Exception {
        FakeBedrock.ToolUse answer = new FakeBedrock.ToolUse("tooluse_j", ConverseTranslation.RESPONSE_TOOL, ANSWER);
        // Text the model writes beside the forced call is not part of the JSON answer.
        fake.replyWithTools("Sure, here it is.", 6, answer);
        ChatCompletion c = client.chat().completions().create(schemaRequest().build());
        assertForcedResponseTool(sent().body(), json(ANSWER_SCHEMA));
        assertEquals(json(ANSWER), json(c.choices().get(0).message().content().orElseThrow()));
        assertTrue(c.choices().get(0).message().toolCalls().isEmpty(), "the answer, not a call: " + c);
        assertEquals("stop", c.choices().get(0).finishReason().asString());

        fake.received.clear();
        StringBuilder content = new StringBuilder();
        List<String> finishes = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(schemaRequest().build())) {
            for (ChatCompletionChunk chunk : (Iterable<ChatCompletionChunk>) stream.stream()::iterator) {
                for (ChatCompletionChunk.Choice ch : chunk.choices()) {
                    ch.delta().content().ifPresent(content::append);
                    assertTrue(ch.delta().toolCalls().orElse(List.of()).isEmpty(), "no call is streamed: " + chunk);
                    ch.finishReason().ifPresent(f -> finishes.add(f.asString()));
                }
            }
        }
        assertTrue(sent().stream());
        assertForcedResponseTool(sent().body(), json(ANSWER_SCHEMA));
        assertEquals(ANSWER, content.toString(), "the input's fragments, as content");
        assertEquals(List.of("stop"), finishes);
    }

    @Test
    void jsonObjectIsAForcedToolTakingAnyObject() throws Exception {
        fake.replyWithTools("", 6, new FakeBedrock.ToolUse("tooluse_o", ConverseTranslation.RESPONSE_TOOL, "{\"ok\": true}"));
        ChatCompletion c = client.chat().completions().create(ChatCompletionCreateParams.builder().model(ChatModel.of(MODEL))
                .addUserMessage("Answer in JSON.").responseFormat(ResponseFormatJsonObject.builder().build()).build());
        assertForcedResponseTool(sent().body(), json("{\"type\": \"object\"}"));
        assertEquals(json("{\"ok\": true}"), json(c.choices().get(0).message().content().orElseThrow()));
        assertEquals("stop", c.choices().get(0).finishReason().asString());
    }

    /** What the SDK's structured-output helper turns into a JSON schema and parses back. */
    public record Forecast(String city, int celsius, List<String> tags) {
    }

    @Test
    void theSdksTypedHelperParsesTheAnswer() throws Exception {
        fake.replyWithTools("", 7, new FakeBedrock.ToolUse("tooluse_f", ConverseTranslation.RESPONSE_TOOL, ANSWER));
        StructuredChatCompletion<Forecast> c = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model(ChatModel.of(MODEL)).addUserMessage("Weather in Zürich.").responseFormat(Forecast.class).build());
        assertEquals(new Forecast("Zürich", 18, List.of("mild", "dry \"air\"")), c.choices().get(0).message().content().orElseThrow());
        JsonNode schema = sent().body().at("/toolConfig/tools/0/toolSpec/inputSchema/json");
        List<String> required = new ArrayList<>();
        schema.path("required").forEach(n -> required.add(n.asText()));
        assertEquals(java.util.Set.of("city", "celsius", "tags"), java.util.Set.copyOf(required), "the SDK's schema of the record: " + schema);
        assertEquals(ConverseTranslation.RESPONSE_TOOL, sent().body().at("/toolConfig/toolChoice/tool/name").asText());
    }
}
