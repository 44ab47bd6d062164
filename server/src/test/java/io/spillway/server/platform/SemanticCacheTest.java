package io.spillway.server.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.spillway.server.SpillwayServer;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.testing.TestServers;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The semantic cache with the real built-in embedding model (all-MiniLM-L6-v2): a paraphrase of an
 * earlier prompt gets its answer only when the request or its key opts in, and an unrelated prompt
 * never does.
 */
class SemanticCacheTest {

    private static final String MODEL = DemoModel.NAME;
    private SpillwayServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void aParaphraseIsServedFromTheSemanticCacheOnlyWhenOptedIn() throws Exception {
        server = TestServers.start(Map.of("embeddings.model", "builtin"));
        Api api = new Api(server);
        String sampling = "\"temperature\": 0.8, \"max_tokens\": 16";
        Api.Reply original = api.post("/v1/chat/completions",
                Api.chat(MODEL, "How do I reset my password?", sampling + ", \"semantic_cache\": true"), null);
        assertEquals("miss", original.header("x-spillway-cache"));

        Api.Reply notOptedIn = api.post("/v1/chat/completions", Api.chat(MODEL, "How can I reset my password?", sampling), null);
        assertEquals("miss", notOptedIn.header("x-spillway-cache"), "no opt-in, no semantic answer");

        Api.Reply paraphrase = api.post("/v1/chat/completions",
                Api.chat(MODEL, "How can I reset my password?", sampling + ", \"semantic_cache\": true"), null);
        assertEquals("semantic", paraphrase.header("x-spillway-cache"));
        assertEquals(original.content(), paraphrase.content());

        Api.Reply unrelated = api.post("/v1/chat/completions",
                Api.chat(MODEL, "What is the boiling point of water at altitude?", sampling + ", \"semantic_cache\": true"), null);
        assertEquals("miss", unrelated.header("x-spillway-cache"));

        Api.Reply otherParameters = api.post("/v1/chat/completions",
                Api.chat(MODEL, "How can I reset my password?", "\"temperature\": 0.8, \"max_tokens\": 17, \"semantic_cache\": true"), null);
        assertEquals("miss", otherParameters.header("x-spillway-cache"), "every other parameter must match");

        KeyStore.Created optedIn = server.keys().create("acme", "faq-bot", Set.of(), false, 0, 0, 0, true, Optional.empty(), false, Optional.empty());
        Api.Reply byKey = api.post("/v1/chat/completions", Api.chat(MODEL, "How do I reset my password?", sampling), optedIn.secret());
        assertEquals("miss", byKey.header("x-spillway-cache"), "the cache is per tenant and key: nothing stored for this key yet");
        Api.Reply byKeyAgain = api.post("/v1/chat/completions", Api.chat(MODEL, "How can I reset my password?", sampling),
                optedIn.secret());
        assertEquals("semantic", byKeyAgain.header("x-spillway-cache"), "a key created with --semantic-cache opts in");
        Api.Reply optedOut = api.post("/v1/chat/completions",
                Api.chat(MODEL, "How can I reset my password?", sampling + ", \"semantic_cache\": false"), optedIn.secret());
        assertNotEquals("semantic", optedOut.header("x-spillway-cache"), "a request can opt out");
    }
}
