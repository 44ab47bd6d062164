package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.testing.StoriesReference;
import io.spillway.server.SpillwayServer;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** A model without tokenizer.json (stories260K) served over HTTP: token ids in, token ids out. */
class TokenIdModelTest {

    @Test
    void servesTokenIdPromptsAndReturnsTheReferenceIds() throws Exception {
        StoriesReference ref = StoriesReference.load();
        try (SpillwayServer server = TestServers.start(Map.of("model.path", ref.directory().toString()))) {
            for (int i = 0; i < ref.prompts().size(); i++) {
                int[] expected = ref.expected().get(i);
                String prompt = Arrays.stream(ref.prompts().get(i)).mapToObj(Integer::toString).collect(Collectors.joining(","));
                try (RawHttp http = new RawHttp(server.port())) {
                    RawHttp.Response r = http.send(RawHttp.postJson("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":["
                            + prompt + "],\"max_tokens\":" + expected.length + ",\"temperature\":0,\"ignore_eos\":true}")).read();
                    assertEquals(200, r.status(), r.body());
                    JsonNode ids = new ObjectMapper().readTree(r.body()).get("choices").get(0).get("token_ids");
                    int[] got = new int[ids.size()];
                    for (int k = 0; k < got.length; k++) {
                        got[k] = ids.get(k).asInt();
                    }
                    assertEquals(Arrays.toString(expected), Arrays.toString(got), "prompt " + i);
                }
            }
            try (RawHttp http = new RawHttp(server.port())) {
                RawHttp.Response chat = http.send(RawHttp.postJson("/v1/chat/completions",
                        "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")).read();
                assertEquals(400, chat.status());
                assertTrue(chat.body().contains("token ids"), chat.body());
            }
        }
    }
}
