package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.InternalServerException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.ChatModel;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import io.spillway.models.testing.SharedData;
import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.testing.TestServers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK against a real Spillway on loopback, through a proxy that checks
 * every body and every streamed chunk against OpenAI's OpenAPI description.
 */
class OpenAiSdkTest {

    private static SpillwayServer server;
    private static SchemaCheckingProxy proxy;
    private static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.demo();
        proxy = new SchemaCheckingProxy(new OpenApiSchemas(SharedData.require("openai/openapi.json")));
        client = client(server, "unused");
    }

    static OpenAIClient client(SpillwayServer s, String key) {
        return proxy.client(TestServers.baseUrl(s) + "/v1", key);
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

    /**
     * vLLM's ignore_eos through the SDK's extra body: the demo model's random weights would
     * otherwise end a sample early now and then, and these tests count tokens.
     */
    private static final JsonValue TRUE = JsonValue.from(true);

    private static ChatCompletionCreateParams.Builder chat(String message) {
        return ChatCompletionCreateParams.builder().model(ChatModel.of(DemoModel.NAME)).addUserMessage(message)
                .putAdditionalBodyProperty("ignore_eos", TRUE);
    }

    private static CompletionCreateParams.Builder completion() {
        return CompletionCreateParams.builder().model(DemoModel.NAME).putAdditionalBodyProperty("ignore_eos", TRUE);
    }

    @Test
    void listsAndRetrievesTheModel() {
        List<Model> models = client.models().list().data();
        assertEquals(1, models.size());
        assertEquals(DemoModel.NAME, models.get(0).id());
        assertEquals(DemoModel.OWNER, models.get(0).ownedBy(), "the demo model says what it is");
        assertEquals(DemoModel.NAME, client.models().retrieve(DemoModel.NAME).id());
        NotFoundException missing = assertThrows(NotFoundException.class, () -> client.models().retrieve("gpt-nope"));
        assertEquals(404, missing.statusCode());
    }

    @Test
    void chatCompletionWithUsageAndSeveralChoices() {
        ChatCompletion c = client.chat().completions().create(chat("Say hello").maxCompletionTokens(12L).n(2L).seed(3L).build());
        assertEquals(2, c.choices().size());
        for (ChatCompletion.Choice choice : c.choices()) {
            assertTrue(choice.message().content().isPresent());
            assertTrue(List.of("stop", "length").contains(choice.finishReason().asString()));
        }
        var usage = c.usage().orElseThrow();
        assertTrue(usage.promptTokens() > 0);
        assertEquals(24, usage.completionTokens());
        assertEquals(usage.promptTokens() + usage.completionTokens(), usage.totalTokens());
    }

    @Test
    void streamedChatMatchesTheSameSeededRequestUnstreamed() {
        ChatCompletionCreateParams params = chat("Tell me a story").maxCompletionTokens(20L).seed(11L).temperature(0.8)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder streamed = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> {
                chunks.add(chunk);
                chunk.choices().forEach(ch -> ch.delta().content().ifPresent(streamed::append));
            });
        }
        ChatCompletionChunk last = chunks.get(chunks.size() - 1);
        assertTrue(last.choices().isEmpty() && last.usage().isPresent(), "the last chunk carries the usage");
        assertTrue(chunks.stream().anyMatch(c -> c.choices().stream().anyMatch(ch -> ch.finishReason().isPresent())));

        ChatCompletionCreateParams plain = chat("Tell me a story").maxCompletionTokens(20L).seed(11L).temperature(0.8).build();
        String whole = client.chat().completions().create(plain).choices().get(0).message().content().orElseThrow();
        assertEquals(whole, streamed.toString(), "a seed gives the same text streamed or not");
        assertEquals(last.usage().orElseThrow().completionTokens(), 20);
    }

    @Test
    void chatLogprobs() {
        ChatCompletion c = client.chat().completions().create(chat("Hi").maxCompletionTokens(5L).logprobs(true).topLogprobs(3L).build());
        var content = c.choices().get(0).logprobs().orElseThrow().content().orElseThrow();
        assertEquals(5, content.size());
        assertEquals(3, content.get(0).topLogprobs().size());
        assertTrue(content.get(0).logprob() <= 0);
    }

    @Test
    void completionsFromTextAndFromTokenIds() {
        Completion text = client.completions().create(completion().prompt("Once upon a time")
                .maxTokens(7L).build());
        assertEquals(1, text.choices().size());
        assertEquals(7, text.usage().orElseThrow().completionTokens());

        Completion ids = client.completions().create(completion()
                .prompt(CompletionCreateParams.Prompt.ofArrayOfTokens(List.of(72L, 105L, 33L))).maxTokens(4L).build());
        assertEquals(3, ids.usage().orElseThrow().promptTokens());

        // The SDK's strict response validation rejects finish_reason null in legacy completion
        // stream chunks, which is what OpenAI's own API sends mid-stream; this stream is parsed
        // leniently (the proxy still checks every chunk).
        OpenAIClient lenient = OpenAIOkHttpClient.builder().baseUrl(TestServers.baseUrl(server) + "/v1").apiKey("unused")
                .proxy(proxy.proxy()).maxRetries(0).build();
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<Completion> stream = lenient.completions().createStreaming(CompletionCreateParams.builder()
                .model(DemoModel.NAME).prompt("Once upon a time").maxTokens(6L).seed(5L).build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> streamed.append(ch.text())));
        }
        Completion same = client.completions().create(completion().prompt("Once upon a time")
                .maxTokens(6L).seed(5L).build());
        assertEquals(same.choices().get(0).text(), streamed.toString());
    }

    @Test
    void errorsMapToOpenAiStatusesAndBodies() {
        NotFoundException unknown = assertThrows(NotFoundException.class,
                () -> client.chat().completions().create(ChatCompletionCreateParams.builder().model(ChatModel.of("gpt-4o"))
                        .addUserMessage("x").build()));
        assertEquals(404, unknown.statusCode());

        BadRequestException hot = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("x").temperature(5.0).build()));
        assertTrue(hot.getMessage().contains("temperature"), hot.getMessage());

        BadRequestException tooLong = assertThrows(BadRequestException.class,
                () -> client.chat().completions().create(chat("x").maxCompletionTokens(100_000L).build()));
        assertTrue(tooLong.getMessage().contains("2048") && tooLong.getMessage().contains("100000"), tooLong.getMessage());
    }

    @Test
    void apiKeysAreEnforced() throws Exception {
        try (SpillwayServer keyed = TestServers.start(Map.of("server.api-keys", "sk-good"))) {
            UnauthorizedException wrong = assertThrows(UnauthorizedException.class, () -> client(keyed, "sk-bad").models().list());
            assertEquals(401, wrong.statusCode());
            assertEquals(DemoModel.NAME, client(keyed, "sk-good").models().list().data().get(0).id());
        }
    }

    @Test
    void overloadIsA503WithRetryAfter() throws Exception {
        try (SpillwayServer full = TestServers.start(Map.of("engine.max-waiting-requests", "0"))) {
            OpenAIServiceException e = assertThrows(InternalServerException.class,
                    () -> client(full, "x").chat().completions().create(chat("x").maxCompletionTokens(3L).build()));
            assertEquals(503, e.statusCode());
            assertFalse(e.headers().values("Retry-After").isEmpty(), "Retry-After tells the client when to come back");
        }
        assertTrue(proxy.validated() > 0);
    }
}
