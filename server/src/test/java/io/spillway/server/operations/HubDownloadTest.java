package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.testing.StoriesReference;
import io.spillway.server.SpillwayServer;
import io.spillway.server.config.ConfigException;
import io.spillway.server.testing.TestServers;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * {@code --model org/name} from a fake Hub on loopback: the gated repository needs the token, the
 * weights' transfer is cut at 40% and resumed with a range request, every file is checked against its
 * checksum, the files land in the Hub's cache layout, and the downloaded model is then served and
 * answers exactly as the reference implementation; a second start works offline from the cache.
 */
class HubDownloadTest {

    @Test
    void aGatedModelIsDownloadedWithAResumedTransferThenServedAndThenFoundOffline() throws Exception {
        StoriesReference ref = StoriesReference.load();
        Map<String, Path> content = new LinkedHashMap<>();
        content.put("config.json", ref.directory().resolve("config.json"));
        content.put("model.safetensors", ref.directory().resolve("model.safetensors"));
        Path cache = Files.createTempDirectory("spillway-hf-cache");
        try (FakeHub hub = new FakeHub("tiny-org/stories260K", content)) {
            Map<String, String> base = Map.of("model.path", "tiny-org/stories260K", "hub.endpoint", hub.endpoint(),
                    "hub.cache-dir", cache.toString());
            ConfigException refused = assertThrows(ConfigException.class, () -> TestServers.start(base));
            assertTrue(refused.getMessage().contains("HTTP 401") && refused.getMessage().contains("HF_TOKEN"), refused.getMessage());

            hub.cutNextTransfer.set(true);
            Map<String, String> withToken = new LinkedHashMap<>(base);
            withToken.put("hub.token", FakeHub.TOKEN);
            try (SpillwayServer server = TestServers.start(withToken)) {
                assertEquals("tiny-org/stories260K", server.model().name(), "served under its Hub id");
                assertGenerates(server, ref);
            }
            assertTrue(hub.requests.stream().anyMatch(r -> r.startsWith("GET /cdn/") && r.contains("bytes=") ), "resumed: " + hub.requests);
            assertTrue(hub.requests.stream().filter(r -> r.startsWith("GET /cdn/")).noneMatch(r -> r.contains("[token]")),
                    "the token never goes to the CDN: " + hub.requests);
            assertFalse(hub.requests.stream().anyMatch(r -> r.contains("pytorch_model.bin") || r.contains("README")), "only needed files");
        }

        Path repo = cache.resolve("models--tiny-org--stories260K");
        assertEquals(FakeHub.COMMIT, Files.readString(repo.resolve("refs/main")).strip());
        Path weights = repo.resolve("snapshots").resolve(FakeHub.COMMIT).resolve("model.safetensors");
        assertTrue(Files.isSymbolicLink(weights));
        byte[] original = Files.readAllBytes(ref.directory().resolve("model.safetensors"));
        assertEquals(weights.getParent().relativize(repo.resolve("blobs").resolve(FakeHub.sha("SHA-256", null, original))),
                Files.readSymbolicLink(weights));
        assertArrayEquals(original, Files.readAllBytes(weights));
        try (Stream<Path> blobs = Files.list(repo.resolve("blobs"))) {
            assertTrue(blobs.noneMatch(p -> p.toString().endsWith(".incomplete")), "no partial file is left");
        }

        // The Hub is gone: offline, the cache serves.
        try (SpillwayServer server = TestServers.start(Map.of("model.path", "tiny-org/stories260K", "hub.endpoint", "http://127.0.0.1:9",
                "hub.cache-dir", cache.toString(), "hub.offline", "true"))) {
            assertGenerates(server, ref);
        }
    }

    private static void assertGenerates(SpillwayServer server, StoriesReference ref) throws Exception {
        int[] prompt = ref.prompts().get(0);
        int[] expected = ref.expected().get(0);
        String body = "{\"model\": \"tiny-org/stories260K\", \"prompt\": " + Arrays.toString(prompt) + ", \"max_tokens\": " + expected.length
                + ", \"temperature\": 0, \"ignore_eos\": true}";
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(TestServers.baseUrl(server) + "/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        JsonNode ids = new ObjectMapper().readTree(r.body()).path("choices").path(0).path("token_ids");
        int[] got = new int[ids.size()];
        for (int i = 0; i < got.length; i++) {
            got[i] = ids.get(i).asInt();
        }
        assertArrayEquals(expected, got, "the downloaded weights answer as the reference does");
    }
}
