package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.router.FakeBedrock;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * What the API sends, request by request, against a transcript recorded from an earlier build:
 * statuses, the headers clients and operators read, bodies and the events of every stream, each
 * parsed and compared whole. It holds the wire behaviour still while the code behind it changes.
 *
 * <p>Values that differ on every run are normalized before comparing: response ids, creation
 * times, request ids; floats are rounded (logprobs to 4 decimals) and embedding vectors reduced to
 * their length, since their last bits may depend on the machine. The demo model is deterministic
 * at temperature 0 and with a seed, and the calls run one at a time in a fixed order, so caches
 * and prefix caches see the same history every run.
 *
 * <p>Re-record with {@code -Dspillway.transcript.record=true} after a deliberate change of the wire
 * format, and say in the commit which change it is.
 */
class WireTranscriptTest {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final Path TRANSCRIPT = Paths.get("src/test/resources/golden/wire-transcript.json");
    private static final Set<String> HEADERS = Set.of("content-type", "x-spillway-route", "x-spillway-route-reason", "x-spillway-cache", "retry-after",
            "cache-control", "location", "connection", "transfer-encoding");
    private static final Pattern RESPONSE_ID = Pattern.compile("(chatcmpl|cmpl)-[0-9a-f]{32}");
    private static final String M = "\"model\":\"" + DemoModel.NAME + "\"";
    private static final String HI = "\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"}]";

    private record Call(String name, String method, String path, String body, String... headers) {
    }

    private static Call post(String name, String path, String body, String... headers) {
        return new Call(name, "POST", path, body, headers);
    }

    private static Call chat(String name, String fields) {
        return post(name, "/v1/chat/completions", "{" + M + "," + fields + "}");
    }

    private static Call completion(String name, String fields) {
        return post(name, "/v1/completions", "{" + M + "," + fields + "}");
    }

    private static Call get(String name, String path) {
        return new Call(name, "GET", path, null);
    }

    /** The open server: no keys, embeddings on, the demo model with a Bedrock counterpart, and a Bedrock-only model. */
    private static List<Call> openServerCalls() {
        List<Call> calls = new ArrayList<>();
        calls.add(get("health", "/health"));
        calls.add(get("ready", "/ready"));
        calls.add(get("models", "/v1/models"));
        calls.add(get("model", "/v1/models/" + DemoModel.NAME));
        calls.add(get("bedrock model", "/v1/models/claude"));
        calls.add(get("unknown model", "/v1/models/nope"));
        calls.add(get("unknown path", "/v2/nothing"));
        calls.add(get("chat with GET", "/v1/chat/completions"));
        calls.add(get("dashboard redirect", "/dashboard"));

        calls.add(chat("chat", HI + ",\"max_tokens\":8,\"temperature\":0"));
        calls.add(chat("chat repeated: cache hit", HI + ",\"max_tokens\":8,\"temperature\":0"));
        calls.add(chat("chat repeated as a stream: cache hit replayed", HI + ",\"max_tokens\":8,\"temperature\":0,\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true}"));
        calls.add(chat("chat stream with usage", "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"One\"},{\"type\":\"text\",\"text\":\"two\"}]}],"
                + "\"max_tokens\":6,\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        calls.add(chat("chat stream without usage", "\"messages\":[{\"role\":\"developer\",\"content\":\"Terse.\"},"
                + "{\"role\":\"user\",\"content\":\"Stream\"}],\"max_completion_tokens\":5,\"temperature\":0,\"stream\":true"));
        calls.add(chat("chat n=2 seeded", "\"messages\":[{\"role\":\"user\",\"content\":\"Two answers\"}],\"max_tokens\":6,"
                + "\"temperature\":0.9,\"seed\":11,\"n\":2"));
        calls.add(chat("chat n=2 seeded stream", "\"messages\":[{\"role\":\"user\",\"content\":\"Two streams\"}],\"max_tokens\":4,"
                + "\"temperature\":0.9,\"seed\":12,\"n\":2,\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        calls.add(chat("chat logprobs", "\"messages\":[{\"role\":\"user\",\"content\":\"Logprobs\"}],\"max_tokens\":3,"
                + "\"temperature\":0,\"logprobs\":true,\"top_logprobs\":2"));
        calls.add(chat("chat logprobs stream", "\"messages\":[{\"role\":\"user\",\"content\":\"Logprobs streamed\"}],\"max_tokens\":3,"
                + "\"temperature\":0,\"logprobs\":true,\"top_logprobs\":1,\"stream\":true"));
        calls.add(chat("chat stop token id", "\"messages\":[{\"role\":\"user\",\"content\":\"Stop me\"}],\"max_tokens\":12,"
                + "\"temperature\":0,\"stop_token_ids\":[101,32,97,101,105,111,117,116,110,115,114,108],\"return_token_ids\":true"));
        calls.add(chat("chat stop string", "\"messages\":[{\"role\":\"user\",\"content\":\"Stop string\"}],\"max_tokens\":40,"
                + "\"temperature\":0,\"stop\":[\"e\",\"a\",\"o\",\" \"]"));
        calls.add(chat("chat min_p top_k repetition penalty", "\"messages\":[{\"role\":\"user\",\"content\":\"Extras\"}],"
                + "\"max_tokens\":5,\"temperature\":0.7,\"seed\":3,\"top_k\":5,\"min_p\":0.05,\"repetition_penalty\":1.2,"
                + "\"presence_penalty\":0.5,\"frequency_penalty\":0.5,\"logit_bias\":{\"65\":5}"));
        calls.add(chat("chat with tools rendered by the template", "\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"}],"
                + "\"max_tokens\":3,\"temperature\":0,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"weather\","
                + "\"parameters\":{\"type\":\"object\"}}}]"));
        calls.add(chat("chat assistant turn with tool calls", "\"messages\":[{\"role\":\"user\",\"content\":\"Weather?\"},"
                + "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"weather\","
                + "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"}],\"max_tokens\":3,"
                + "\"temperature\":0"));
        calls.add(chat("chat local-only", HI + ",\"max_tokens\":4,\"temperature\":0.5,\"seed\":1,\"route\":\"local-only\""));

        calls.add(completion("completion", "\"prompt\":\"Once upon a time\",\"max_tokens\":6,\"temperature\":0"));
        calls.add(completion("completion default length", "\"prompt\":\"Default length\",\"temperature\":0"));
        calls.add(completion("completion echo logprobs", "\"prompt\":\"Echo\",\"max_tokens\":3,\"temperature\":0,\"echo\":true,"
                + "\"logprobs\":2"));
        calls.add(completion("completion echo stream", "\"prompt\":\"Echo streamed\",\"max_tokens\":3,\"temperature\":0,"
                + "\"echo\":true,\"stream\":true"));
        calls.add(completion("completion token ids", "\"prompt\":[72,105,33],\"max_tokens\":4,\"temperature\":0,"
                + "\"return_token_ids\":true"));
        calls.add(completion("completion many prompts n=2", "\"prompt\":[\"First\",[70,71],\"Third\"],\"max_tokens\":3,"
                + "\"temperature\":0.8,\"seed\":5,\"n\":2"));
        calls.add(completion("completion many prompts stream", "\"prompt\":[\"Alpha\",\"Beta\"],\"max_tokens\":3,"
                + "\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
        calls.add(completion("completion logprobs stream", "\"prompt\":\"Stream logprobs\",\"max_tokens\":3,"
                + "\"temperature\":0,\"logprobs\":1,\"stream\":true"));
        calls.add(completion("completion best_of equal to n", "\"prompt\":\"Best\",\"max_tokens\":2,\"temperature\":0,"
                + "\"best_of\":1"));

        calls.add(post("invalid JSON", "/v1/chat/completions", "{\"model\":"));
        calls.add(post("body is an array", "/v1/chat/completions", "[1]"));
        calls.add(post("missing model", "/v1/chat/completions", "{" + HI + "}"));
        calls.add(post("unknown model", "/v1/chat/completions", "{\"model\":\"gpt-4o\"," + HI + "}"));
        calls.add(chat("missing messages", "\"max_tokens\":2"));
        calls.add(chat("empty messages", "\"messages\":[]"));
        calls.add(chat("unknown role", "\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]"));
        calls.add(chat("missing content", "\"messages\":[{\"role\":\"user\"}]"));
        calls.add(chat("content is a number", "\"messages\":[{\"role\":\"user\",\"content\":5}]"));
        calls.add(chat("image part", "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
                + "{\"url\":\"http://x\"}}]}]"));
        calls.add(chat("temperature too high", HI + ",\"temperature\":3"));
        calls.add(chat("top_p a string", HI + ",\"top_p\":\"high\""));
        calls.add(chat("n zero", HI + ",\"n\":0"));
        calls.add(chat("max_tokens negative", HI + ",\"max_tokens\":-1"));
        calls.add(chat("max_tokens past the context", HI + ",\"max_tokens\":100000000"));
        calls.add(chat("five stop strings", HI + ",\"max_tokens\":2,\"temperature\":0,\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]"));
        calls.add(chat("seventeen stop strings", HI + ",\"stop\":[" + "\"x\",".repeat(16) + "\"y\"]"));
        calls.add(chat("empty stop string", HI + ",\"stop\":\"\""));
        calls.add(chat("logit_bias key not a token", HI + ",\"logit_bias\":{\"abc\":1}"));
        calls.add(chat("logit_bias outside the vocabulary", HI + ",\"logit_bias\":{\"999999\":1}"));
        calls.add(chat("stop_token_ids outside the vocabulary", HI + ",\"stop_token_ids\":[999999]"));
        calls.add(chat("top_logprobs without logprobs", HI + ",\"top_logprobs\":2"));
        calls.add(chat("top_logprobs too many", HI + ",\"logprobs\":true,\"top_logprobs\":50"));
        calls.add(chat("stream_options without stream", HI + ",\"stream_options\":{\"include_usage\":true}"));
        calls.add(chat("response_format json_schema", HI + ",\"max_tokens\":40,\"temperature\":0,\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"properties\":"
                + "{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"],\"additionalProperties\":false}}}"));
        String tools = ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":{\"type\":"
                + "\"object\",\"properties\":{\"zone\":{\"enum\":[\"UTC\",\"CET\"]}},\"required\":[\"zone\"],"
                + "\"additionalProperties\":false}}}]";
        calls.add(chat("tool_choice required", HI + ",\"max_tokens\":60,\"temperature\":0,\"tool_choice\":\"required\","
                + "\"parallel_tool_calls\":false" + tools));
        calls.add(chat("tool_choice required streamed", HI + ",\"max_tokens\":60,\"temperature\":0,\"tool_choice\":"
                + "\"required\",\"parallel_tool_calls\":false,\"stream\":true" + tools));
        calls.add(chat("response_format text", HI + ",\"max_tokens\":2,\"temperature\":0,\"response_format\":{\"type\":\"text\"}"));
        calls.add(chat("route invalid", HI + ",\"route\":\"moon\""));
        calls.add(completion("missing prompt", "\"max_tokens\":2"));
        calls.add(completion("empty prompt array", "\"prompt\":[]"));
        calls.add(completion("prompt is an object", "\"prompt\":{\"a\":1}"));
        calls.add(completion("token id outside the vocabulary", "\"prompt\":[1,2,999999]"));
        calls.add(completion("nested token id outside the vocabulary", "\"prompt\":[[1,2],[3,-4]]"));
        calls.add(completion("prompt too long", "\"prompt\":[" + "65,".repeat(5000) + "65]"));
        calls.add(completion("suffix", "\"prompt\":\"x\",\"suffix\":\"y\""));
        calls.add(completion("best_of differs from n", "\"prompt\":\"x\",\"best_of\":3"));
        calls.add(completion("empty string prompt", "\"prompt\":\"\""));

        calls.add(post("tokenize prompt", "/tokenize", "{" + M + ",\"prompt\":\"Hi there\",\"return_token_strs\":true}"));
        calls.add(post("tokenize messages", "/tokenize", "{" + M + "," + HI + ",\"add_generation_prompt\":true}"));
        calls.add(post("tokenize nothing", "/tokenize", "{" + M + "}"));
        calls.add(post("detokenize", "/detokenize", "{" + M + ",\"tokens\":[72,105,33]}"));
        calls.add(post("detokenize outside the vocabulary", "/detokenize", "{" + M + ",\"tokens\":[72,999999]}"));

        calls.add(post("embeddings", "/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":[\"a cat\",\"a dog\"]}"));
        calls.add(post("embeddings base64", "/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"a cat\","
                + "\"encoding_format\":\"base64\"}"));
        calls.add(post("embeddings token ids", "/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":[101,2000,102]}"));
        calls.add(post("embeddings from the chat model", "/v1/embeddings", "{" + M + ",\"input\":\"x\"}"));
        calls.add(post("embeddings wrong dimensions", "/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"x\","
                + "\"dimensions\":12}"));
        calls.add(post("embeddings empty input", "/v1/embeddings", "{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"\"}"));

        calls.add(post("collection create", "/v1/collections", "{\"name\":\"handbook\"}"));
        calls.add(post("collection documents", "/v1/collections/handbook/documents", "{\"documents\":[{\"id\":\"travel\","
                + "\"format\":\"markdown\",\"metadata\":{\"year\":2026},\"text\":\"# Travel\\n\\n## Expenses\\nHotels are reimbursed"
                + " up to 180 euros per night.\"},{\"id\":\"security\",\"text\":\"Report a lost laptop to security within one"
                + " hour.\"}]}"));
        calls.add(post("collection query", "/v1/collections/handbook/query", "{\"text\":\"hotel budget\",\"top_k\":1}"));
        calls.add(chat("chat with retrieval", "\"messages\":[{\"role\":\"user\",\"content\":\"What hotel rate is allowed?\"}],"
                + "\"max_tokens\":4,\"temperature\":0,\"rag\":{\"collection\":\"handbook\",\"top_k\":2}"));
        calls.add(chat("chat with retrieval streamed", "\"messages\":[{\"role\":\"user\",\"content\":\"Lost laptop?\"}],"
                + "\"max_tokens\":3,\"temperature\":0,\"stream\":true,\"rag\":{\"collection\":\"handbook\",\"top_k\":1}"));
        calls.add(chat("chat with retrieval from a missing collection", HI + ",\"rag\":{\"collection\":\"nope\"}"));
        calls.add(chat("chat with retrieval not an object", HI + ",\"rag\":7"));

        calls.add(post("bedrock chat", "/v1/chat/completions", "{\"model\":\"claude\",\"max_tokens\":50,\"temperature\":0.3,"
                + "\"top_p\":0.9,\"stop\":[\"END\"],\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello.\"},"
                + "{\"role\":\"user\",\"content\":\"What is two plus two?\"}]}"));
        calls.add(post("bedrock chat stream", "/v1/chat/completions", "{\"model\":\"claude\",\"max_tokens\":20,\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"Stream it\"}]}"));
        calls.add(post("bedrock chat stream without usage", "/v1/chat/completions", "{\"model\":\"claude\",\"stream\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Stream it plain\"}]}"));
        calls.add(post("bedrock chat local-only", "/v1/chat/completions", "{\"model\":\"claude\",\"route\":\"local-only\","
                + HI + "}"));
        calls.add(post("bedrock chat starting with the assistant", "/v1/chat/completions", "{\"model\":\"claude\","
                + "\"messages\":[{\"role\":\"assistant\",\"content\":\"Hi\"}]}"));
        calls.add(post("bedrock chat with a tool message", "/v1/chat/completions", "{\"model\":\"claude\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"y\"}]}"));
        calls.add(post("bedrock chat invalid temperature", "/v1/chat/completions", "{\"model\":\"claude\",\"temperature\":9,"
                + HI + "}"));
        calls.add(post("bedrock chat seventeen stop strings", "/v1/chat/completions", "{\"model\":\"claude\",\"stop\":["
                + "\"x\",".repeat(16) + "\"y\"]," + HI + "}"));
        calls.add(post("bedrock chat repeated at temperature 0: cache", "/v1/chat/completions", "{\"model\":\"claude\","
                + "\"temperature\":0," + HI + "}"));
        calls.add(post("bedrock chat repeated at temperature 0: cache hit", "/v1/chat/completions", "{\"model\":\"claude\","
                + "\"temperature\":0," + HI + "}"));
        calls.add(post("bedrock completion", "/v1/completions", "{\"model\":\"claude\",\"prompt\":\"x\"}"));
        return calls;
    }

    /** The server with keys: authentication and the per-key policy. */
    private static List<Call> keyedServerCalls(String confined, String redacting) {
        List<Call> calls = new ArrayList<>();
        calls.add(chat("no key", HI));
        calls.add(post("wrong key", "/v1/chat/completions", "{" + M + "," + HI + "}", "Authorization: Bearer sk-wrong"));
        calls.add(post("not a bearer", "/v1/chat/completions", "{" + M + "," + HI + "}", "Authorization: Basic abc"));
        calls.add(get("health without a key", "/health"));
        calls.add(new Call("models without a key", "GET", "/v1/models", null));
        calls.add(post("model not allowed", "/v1/chat/completions", "{\"model\":\"claude\"," + HI + "}", "Authorization: Bearer "
                + confined));
        calls.add(post("allowed model", "/v1/chat/completions", "{" + M + "," + HI + ",\"max_tokens\":3,\"temperature\":0}",
                "Authorization: Bearer " + confined));
        calls.add(post("redacting key to bedrock", "/v1/chat/completions", "{\"model\":\"claude\",\"messages\":[{\"role\":\"user\","
                + "\"content\":\"Mail jane.doe@example.com about SSN 078-05-1120\"}]}", "Authorization: Bearer " + redacting));
        calls.add(post("redacting key to bedrock, streamed", "/v1/chat/completions", "{\"model\":\"claude\",\"stream\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Card 4111 1111 1111 1111 on file\"}]}", "Authorization: Bearer "
                + redacting));
        return calls;
    }

    @Test
    void theApiAnswersAsRecorded() throws Exception {
        FakeBedrock.installTestCredentials();
        ArrayNode transcript = F.arrayNode();
        try (FakeBedrock fake = new FakeBedrock(2)) {
            String router = """
                    router:
                      ttft-target-ms: 3600000
                      models:
                        - name: %s
                          local: true
                          bedrock-model-id: qwen.qwen3-32b-v1:0
                          input-price-per-1k: 0.0002
                          output-price-per-1k: 0.0008
                        - name: claude
                          local: false
                          bedrock-model-id: anthropic.claude-3-haiku-20240307-v1:0
                          input-price-per-1k: 0.00025
                          output-price-per-1k: 0.00125
                    bedrock:
                      endpoint: %s
                      region: us-east-1
                    """.formatted(DemoModel.NAME, fake.endpoint());
            SpillwayServer open = TestServers.start(Map.of("embeddings.model", "builtin"), router);
            try {
                for (Call c : openServerCalls()) {
                    transcript.add(record("open: " + c.name(), open, c));
                }
            } finally {
                open.close();
            }
            SpillwayServer keyed = TestServers.start(Map.of("safety.pii", "redact"), router);
            try {
                String confined = keyed.keys().create("acme", "confined", Set.of(DemoModel.NAME), false, 0, 0, 0, false, Optional.empty(),
                        false, Optional.empty()).secret();
                String redacting = keyed.keys().create("acme", "redacting", Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty())
                        .secret();
                fake.reply("Your card 4111 1111 1111 1111 is on file, jane.doe@example.com.", 3);
                for (Call c : keyedServerCalls(confined, redacting)) {
                    transcript.add(record("keyed: " + c.name(), keyed, c));
                }
            } finally {
                keyed.close();
            }
        }
        if (Boolean.getBoolean("spillway.transcript.record")) {
            Files.createDirectories(TRANSCRIPT.getParent());
            Files.writeString(TRANSCRIPT, JSON.writeValueAsString(transcript) + "\n");
            return;
        }
        JsonNode expected = JSON.readTree(Files.readString(TRANSCRIPT));
        List<String> differences = new ArrayList<>();
        assertEquals(expected.size(), transcript.size(), "the number of recorded calls");
        for (int i = 0; i < expected.size(); i++) {
            JsonNode want = expected.get(i);
            JsonNode got = transcript.get(i);
            if (!want.equals(got)) {
                differences.add(want.path("call").asText() + "\n  expected: " + want + "\n  actual:   " + got);
            }
        }
        if (!differences.isEmpty()) {
            Path actual = Paths.get("target/wire-transcript.actual.json");
            Files.writeString(actual, JSON.writeValueAsString(transcript) + "\n");
            fail("(the whole transcript is in " + actual.toAbsolutePath() + ")\n" + differences.size() + " of " + expected.size() + " calls differ from the transcript:\n" + String.join("\n", differences));
        }
        assertTrue(transcript.size() > 100, "the transcript covers the API");
    }

    private static ObjectNode record(String name, SpillwayServer server, Call call) throws Exception {
        RawHttp.Response r;
        try (RawHttp http = new RawHttp(server.port())) {
            byte[] body = call.body() == null ? null : call.body().getBytes(StandardCharsets.UTF_8);
            r = http.send(RawHttp.request(call.method(), call.path(), body == null ? null : "application/json", body, call.headers()))
                    .read();
        }
        ObjectNode entry = F.objectNode();
        entry.put("call", name);
        entry.put("status", r.status());
        ObjectNode headers = entry.putObject("headers");
        r.headers().entrySet().stream().filter(h -> HEADERS.contains(h.getKey())).sorted(Map.Entry.comparingByKey())
                .forEach(h -> headers.put(h.getKey(), h.getValue()));
        String type = r.header("content-type");
        if (type != null && type.startsWith("text/event-stream")) {
            // Choices of different prompts are generated side by side, so their chunks interleave in
            // any order: each choice's chunks are kept in order, and the rest in theirs.
            ObjectNode choices = entry.putObject("choice events");
            ArrayNode events = entry.putArray("other events");
            for (String event : r.body().split("\n\n")) {
                if (event.isBlank()) {
                    continue;
                }
                String data = event.startsWith("data: ") ? event.substring(6) : event;
                JsonNode parsed = data.equals("[DONE]") ? F.textNode(data) : normalize(JSON.readTree(data));
                if (parsed.path("choices").size() == 1) {
                    String index = parsed.path("choices").get(0).path("index").asText();
                    (choices.has(index) ? (ArrayNode) choices.get(index) : choices.putArray(index)).add(parsed);
                } else {
                    events.add(parsed);
                }
            }
        } else if (type != null && type.startsWith("application/json")) {
            entry.set("body", normalize(JSON.readTree(r.body())));
        } else {
            entry.put("text", r.body().length() > 200 ? "<" + r.body().length() + " chars>" : r.body());
        }
        return entry;
    }

    private static JsonNode normalize(JsonNode node) {
        if (node instanceof ObjectNode o) {
            ObjectNode out = F.objectNode();
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                switch (e.getKey()) {
                    case "id" -> out.set("id", v.isTextual() && RESPONSE_ID.matcher(v.asText()).matches() ? F.textNode("<id>") : v);
                    case "created", "created_at" -> out.put(e.getKey(), v.isNumber() ? "<time>" : v.asText());
                    case "embedding" -> out.put("embedding", v.isArray() ? "<" + v.size() + " floats>" : "<base64 " + v.asText().length() + ">");
                    default -> out.set(e.getKey(), normalize(v));
                }
            }
            return out;
        }
        if (node instanceof ArrayNode a) {
            ArrayNode out = F.arrayNode();
            a.forEach(x -> out.add(normalize(x)));
            return out;
        }
        if (node.isFloatingPointNumber()) {
            return F.numberNode(Math.round(node.asDouble() * 1e4) / 1e4);
        }
        return node;
    }
}
