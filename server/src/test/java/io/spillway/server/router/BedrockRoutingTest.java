package io.spillway.server.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * The router with the real AWS SDK client against {@link FakeBedrock} on loopback: translation
 * both ways, streaming in event-stream frames, retries on throttling, the circuit breaker, and
 * local-only requests that never leave the box.
 */
class BedrockRoutingTest extends BedrockServerTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private void start(long fakeLatencyMillis, Map<String, String> overrides) throws Exception {
        fake = new FakeBedrock(fakeLatencyMillis);
        String yaml = """
                router:
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
                  retry-base-ms: 20
                  retry-cap-ms: 100
                  breaker-failures: 3
                  breaker-open-seconds: 1
                """.formatted(DemoModel.NAME, fake.endpoint());
        server = TestServers.start(overrides, yaml);
    }

    private RawHttp.Response chat(String body) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(RawHttp.postJson("/v1/chat/completions", body)).read();
        }
    }

    @Test
    void aBedrockModelIsTranslatedBothWays() throws Exception {
        start(5, Map.of());
        RawHttp.Response r = chat("""
                {"model":"claude","max_tokens":50,"temperature":0.3,"top_p":0.9,"stop":["END"],
                 "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
                             {"role":"assistant","content":"Hello."},{"role":"user","content":"What is"},
                             {"role":"user","content":"two plus two?"}]}""");
        assertEquals(200, r.status(), r.body());
        assertEquals("bedrock", r.header("x-spillway-route"));
        JsonNode body = JSON.readTree(r.body());
        assertEquals("chat.completion", body.get("object").asText());
        assertEquals("claude", body.get("model").asText());
        assertEquals("bedrock", body.get("route").asText());
        assertEquals("bedrock: What istwo plus two?", body.at("/choices/0/message/content").asText());
        assertEquals("stop", body.at("/choices/0/finish_reason").asText());
        int in = body.at("/usage/prompt_tokens").asInt();
        int out = body.at("/usage/completion_tokens").asInt();
        assertTrue(in > 0 && out > 0);
        assertEquals(in / 1000.0 * 0.00025 + out / 1000.0 * 0.00125, body.at("/usage/cost_usd").asDouble(), 1e-12);

        FakeBedrock.Received sent = fake.received.get(0);
        assertEquals("anthropic.claude-3-haiku-20240307-v1:0", sent.modelId());
        assertEquals("Be brief.", sent.body().at("/system/0/text").asText());
        JsonNode messages = sent.body().get("messages");
        assertEquals(3, messages.size(), "consecutive user turns merge: " + messages);
        assertEquals("user", messages.get(2).get("role").asText());
        assertEquals(2, messages.get(2).get("content").size());
        assertEquals(50, sent.body().at("/inferenceConfig/maxTokens").asInt());
        assertEquals(0.3, sent.body().at("/inferenceConfig/temperature").asDouble(), 1e-6);
        assertEquals(0.9, sent.body().at("/inferenceConfig/topP").asDouble(), 1e-6);
        assertEquals("END", sent.body().at("/inferenceConfig/stopSequences/0").asText());
    }

    @Test
    void streamsEventStreamFramesAsOpenAiChunks() throws Exception {
        start(5, Map.of());
        RawHttp.Response r = chat("""
                {"model":"claude","stream":true,"stream_options":{"include_usage":true},
                 "messages":[{"role":"user","content":"stream me please"}]}""");
        assertEquals(200, r.status(), r.body());
        assertEquals("bedrock", r.header("x-spillway-route"));
        StringBuilder text = new StringBuilder();
        String finish = null;
        JsonNode usage = null;
        List<String> data = r.body().lines().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", data.get(data.size() - 1));
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode c = JSON.readTree(d);
            assertEquals("chat.completion.chunk", c.get("object").asText());
            if (c.get("choices").size() > 0) {
                text.append(c.at("/choices/0/delta/content").asText(""));
                if (!c.at("/choices/0/finish_reason").isNull()) {
                    finish = c.at("/choices/0/finish_reason").asText();
                }
            }
            if (c.hasNonNull("usage")) {
                usage = c.get("usage");
            }
        }
        assertEquals("bedrock: stream me please", text.toString());
        assertEquals("stop", finish);
        assertTrue(usage != null && usage.get("completion_tokens").asInt() > 0, r.body());
        assertTrue(fake.received.get(0).stream());
    }

    @Test
    void throttlingIsRetriedWithBackoff() throws Exception {
        start(1, Map.of());
        fake.failNext(2, 429);
        RawHttp.Response r = chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"retry\"}]}");
        assertEquals(200, r.status(), r.body());
        assertEquals(3, fake.calls.get(), "two throttled attempts, then success");
        fake.failNext(2, 429);
        RawHttp.Response s = chat("{\"model\":\"claude\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"retry\"}]}");
        assertEquals(200, s.status(), s.body());
        assertTrue(s.body().contains("bedrock: ") && s.body().contains("retry"), s.body());
    }

    @Test
    void theBreakerOpensOnAFailingBedrockAndClosesWhenItRecovers() throws Exception {
        start(1, Map.of("bedrock.max-attempts", "2"));
        fake.failNext(-1, 500);
        for (int i = 0; i < 3; i++) {
            RawHttp.Response r = chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
            assertEquals(503, r.status(), r.body());
            assertTrue(r.header("Retry-After") != null);
        }
        int callsWhenOpen = fake.calls.get();
        long start = System.nanoTime();
        RawHttp.Response fast = chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
        assertEquals(503, fast.status());
        assertTrue(fast.body().contains("circuit open"), fast.body());
        assertEquals(callsWhenOpen, fake.calls.get(), "an open breaker sends nothing to Bedrock");
        assertTrue((System.nanoTime() - start) / 1e6 < 1000, "refused at once, nothing hangs");
        // A model served locally as well keeps working, locally.
        RawHttp.Response local = chat("{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
        assertEquals(200, local.status());
        assertEquals("local", local.header("x-spillway-route"));
        assertTrue(bedrockFailures() >= 3, "each failed request counted: " + bedrockFailures());
        // Recovery: after the open period one trial call goes through and closes the breaker.
        fake.recover();
        // Open for 1 s: until then requests are refused at once without reaching Bedrock, then one
        // trial call goes through. Asking again is how to see the moment it closes.
        RawHttp.Response back = chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"back\"}]}");
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        while (back.status() == 503 && back.body().contains("circuit open") && System.nanoTime() < deadline) {
            Thread.sleep(50);
            back = chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"back\"}]}");
        }
        assertEquals(200, back.status(), back.body());
        assertEquals(200, chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"again\"}]}").status());
    }

    @Test
    void spillsUnderLoadButNeverSendsLocalOnlyRequests() throws Exception {
        // A tiny engine and a TTFT target that any queue exceeds: spilling is constant under load.
        start(20, Map.of("engine.max-num-seqs", "2", "router.ttft-target-ms", "1"));
        // One request first, so that the engine knows its step time and prefill rate.
        assertEquals(200, chat("{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"warm\"}]}").status());
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<RawHttp.Response>> all = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            boolean localOnly = i % 2 == 0;
            String body = "{\"model\":\"" + DemoModel.NAME + "\",\"max_tokens\":24,\"ignore_eos\":" + localOnly + ","
                    + (localOnly ? "\"route\":\"local-only\"," : "")
                    + "\"messages\":[{\"role\":\"user\",\"content\":\"" + (localOnly ? "PRIVATE-" + i : "public-" + i) + "\"}]}";
            all.add(pool.submit((Callable<RawHttp.Response>) () -> chat(body)));
        }
        int spilled = 0;
        int local = 0;
        for (int i = 0; i < all.size(); i++) {
            RawHttp.Response r = all.get(i).get();
            assertEquals(200, r.status(), r.body());
            if (i % 2 == 0) {
                assertEquals("local", r.header("x-spillway-route"), "local-only request " + i);
            } else if ("bedrock".equals(r.header("x-spillway-route"))) {
                spilled++;
            } else {
                local++;
            }
        }
        pool.shutdown();
        for (FakeBedrock.Received sent : fake.received) {
            assertFalse(sent.body().toString().contains("PRIVATE"), "a local-only request reached Bedrock: " + sent.body());
        }
        assertTrue(spilled > 0, "some requests spilled under load (" + spilled + " spilled, " + local + " local)");
        String metrics = metrics();
        assertTrue(metrics.contains("spillway_router_spills_total{reason=\"queue_wait\"}"), metrics);
        // An unsupported route value is a 400.
        assertEquals(400, chat("{\"model\":\"claude\",\"route\":\"moon\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}").status());
        assertEquals(400, chat("{\"model\":\"claude\",\"route\":\"local-only\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}").status());
    }

    private double bedrockFailures() throws Exception {
        for (String line : metrics().split("\n")) {
            if (line.startsWith("spillway_router_bedrock_failures_total ")) {
                return Double.parseDouble(line.substring(line.indexOf(' ') + 1).trim());
            }
        }
        throw new AssertionError("no spillway_router_bedrock_failures_total in /metrics");
    }

    @Test
    void aRequestBedrockRefusesIsAClientErrorNotAFailure() throws Exception {
        start(1, Map.of("bedrock.max-attempts", "1"));
        double before = bedrockFailures();
        fake.failNext(1, 400);
        RawHttp.Response r = chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
        assertEquals(400, r.status(), r.body());
        assertTrue(r.body().contains("Amazon Bedrock refused the request"), r.body());
        assertEquals(before, bedrockFailures(), "a refusal is the request's fault, not Bedrock's");
        fake.failNext(1, 500);
        assertEquals(503, chat("{\"model\":\"claude\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}").status());
        assertEquals(before + 1, bedrockFailures(), "a failing Bedrock is counted");
    }

    private String metrics() throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(RawHttp.request("GET", "/metrics", null, null)).read().body();
        }
    }
}
