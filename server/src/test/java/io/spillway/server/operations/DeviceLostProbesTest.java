package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.testing.StoriesReference;
import io.spillway.server.SpillwayServer;
import io.spillway.server.testing.FaultyDevice;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.io.IOException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Over real HTTP on loopback, stories260K serving: after a step fails with a sticky CUDA error,
 * {@code /ready} and {@code /health} fail with the reason (the orchestrator stops sending traffic
 * and restarts the process), and generation requests get an OpenAI-style 503.
 */
class DeviceLostProbesTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Each call its own prompt: the response cache would answer a repeated one without the engine. */
    private int prompts = 400;

    private static RawHttp.Response get(SpillwayServer server, String path) throws IOException {
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(RawHttp.request("GET", path, null, null)).read();
        }
    }

    private RawHttp.Response complete(SpillwayServer server) throws IOException {
        String body = "{\"model\":\"stories260K\",\"prompt\":[1," + prompts++ + "],\"max_tokens\":8,\"temperature\":0}";
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(RawHttp.postJson("/v1/completions", body)).read();
        }
    }

    @Test
    void aLostDeviceFailsReadinessAndLivenessAndRefusesRequests() throws Exception {
        FaultyDevice device = new FaultyDevice();
        try (SpillwayServer server = TestServers.start(Map.of("model.path", StoriesReference.load().directory().toString()), null,
                device)) {
            assertEquals(200, get(server, "/ready").status());
            assertEquals(200, get(server, "/health").status());
            assertEquals(200, complete(server).status(), "serving before");

            device.failWhen(b -> true, FaultyDevice.ILLEGAL_ACCESS, false);
            RawHttp.Response failed = complete(server);
            assertEquals(500, failed.status(), failed.body());
            assertTrue(failed.body().contains("illegal memory access"), failed.body());

            RawHttp.Response ready = get(server, "/ready");
            assertEquals(503, ready.status());
            JsonNode readyBody = JSON.readTree(ready.body());
            assertEquals("device_lost", readyBody.get("status").asText());
            assertTrue(readyBody.get("reason").asText().contains("CUDA error: an illegal memory access was encountered"), ready.body());
            RawHttp.Response health = get(server, "/health");
            assertEquals(503, health.status(), "liveness fails too: only a restart mends the device");
            assertEquals("device_lost", JSON.readTree(health.body()).get("status").asText());

            device.healthy();
            RawHttp.Response refused = complete(server);
            assertEquals(503, refused.status(), refused.body());
            JsonNode error = JSON.readTree(refused.body()).get("error");
            assertEquals("server_error", error.get("type").asText());
            assertEquals("engine_unavailable", error.get("code").asText());
            assertTrue(error.get("message").asText().contains("restarted"), refused.body());
            assertNotNull(refused.header("retry-after"), "a client may retry (through the load balancer, elsewhere)");
            assertEquals(1, device.failures(), "refused before the device: " + device.failedPasses());
        }
    }
}
