package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.server.SpillwayServer;
import io.spillway.server.platform.keys.Database;
import io.spillway.server.platform.keys.KeyStore;
import io.spillway.server.testing.RawHttp;
import io.spillway.server.testing.TestServers;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** HTTP as a careless or hostile client uses it: odd targets, ids in URLs, early expectations, floods. */
class HttpEdgeCasesTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static RawHttp.Response call(SpillwayServer server, byte[] request) throws Exception {
        try (RawHttp http = new RawHttp(server.port())) {
            return http.send(request).read();
        }
    }

    private static byte[] json(String method, String path, String body, String... headers) {
        return RawHttp.request(method, path, body == null ? null : "application/json",
                body == null ? null : body.getBytes(StandardCharsets.UTF_8), headers);
    }

    @Test
    void absoluteFormTargetsAreAcceptedAsRfc9112Requires() throws Exception {
        try (SpillwayServer server = TestServers.demo()) {
            RawHttp.Response health = call(server, json("GET", "http://localhost:" + server.port() + "/health", null));
            assertEquals(200, health.status(), health.body());
            RawHttp.Response models = call(server, json("GET", "http://127.0.0.1/v1/models?x=1", null));
            assertEquals(200, models.status(), models.body());
        }
    }

    @Test
    void anIdHoldingSlashesAndHashesIsReachedWithItsUrlEncodingDecodedOnce() throws Exception {
        try (SpillwayServer server = TestServers.demo()) {
            assertEquals(200, call(server, json("POST", "/v1/collections", "{\"name\":\"c\",\"dimension\":3}")).status());
            RawHttp.Response put = call(server, json("POST", "/v1/collections/c/vectors",
                    "{\"vectors\":[{\"id\":\"a/b#0 \u00fc+\",\"vector\":[1,0,0]}]}"));
            assertEquals(200, put.status(), put.body());
            String encoded = "/v1/collections/c/vectors/a%2Fb%230%20%C3%BC+";
            RawHttp.Response got = call(server, json("GET", encoded, null));
            assertEquals(200, got.status(), got.body());
            assertEquals("a/b#0 \u00fc+", JSON.readTree(got.body()).path("id").asText());
            assertEquals(404, call(server, json("GET", "/v1/collections/c/vectors/a%252Fb%25230%2520%25C3%25BC+", null)).status(),
                    "a double-encoded id is another id");
            assertEquals(200, call(server, json("DELETE", encoded, null)).status(), "the id can be erased by a standard client");
            assertEquals(404, call(server, json("GET", encoded, null)).status());
        }
    }

    @Test
    void idsAUrlCannotCarryAreRefusedWhenWritten() throws Exception {
        try (SpillwayServer server = TestServers.demo()) {
            call(server, json("POST", "/v1/collections", "{\"name\":\"c\",\"dimension\":3}"));
            for (String id : new String[] {"a\\u0001b", ".", "..", "x".repeat(300), "tab\\there"}) {
                RawHttp.Response r = call(server, json("POST", "/v1/collections/c/vectors",
                        "{\"vectors\":[{\"id\":\"" + id + "\",\"vector\":[1,0,0]}]}"));
                assertEquals(400, r.status(), id + ": " + r.body());
                assertEquals("vectors[0].id", JSON.readTree(r.body()).at("/error/param").asText(), r.body());
            }
        }
    }

    @Test
    void anExpectContinueWithoutAValidKeyIsRefusedBeforeTheBodyIsAskedFor() throws Exception {
        try (SpillwayServer server = TestServers.start(Map.of("server.api-keys", "sk-right"))) {
            byte[] head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 1000\r\nExpect: 100-continue\r\nAuthorization: Bearer sk-wrong\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1);
            try (RawHttp http = new RawHttp(server.port())) {
                RawHttp.Response r = http.send(head).read();
                assertEquals(401, r.status(), "no 100 Continue for a caller who will be refused");
                assertEquals("invalid_api_key", JSON.readTree(r.body()).at("/error/code").asText());
            }
            byte[] good = ("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 2\r\nExpect: 100-continue\r\nAuthorization: Bearer sk-right\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1);
            try (RawHttp http = new RawHttp(server.port())) {
                assertEquals(100, http.send(good).read().status(), "a caller with a good key is asked for its body");
                RawHttp.Response r = http.send("{}".getBytes(StandardCharsets.US_ASCII)).read();
                assertEquals(400, r.status(), "and its body is read: " + r.body());
            }
        }
    }

    @Test
    void aClientThatWritesAWholeOversizedBodyBeforeReadingStillGetsIts413() throws Exception {
        // The upload outlasts the request-read deadline: the server answered 413 long before, and
        // must keep reading (and discarding) the rest, or closing would reset the connection and
        // lose the answer in the client's receive buffer.
        try (SpillwayServer server = TestServers.start(Map.of("server.max-body-bytes", Integer.toString(1 << 20),
                "server.request-read-timeout-seconds", "1"))) {
            byte[] piece = "x".repeat(1 << 19).getBytes(StandardCharsets.US_ASCII);
            int pieces = 24;
            try (Socket socket = new Socket("127.0.0.1", server.port())) {
                socket.setSoTimeout(30_000);
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                        + (long) piece.length * pieces + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                for (int i = 0; i < pieces; i++) {
                    out.write(piece);
                    out.flush();
                    Thread.sleep(100);
                }
                InputStream in = socket.getInputStream();
                String response = new String(in.readNBytes(12), StandardCharsets.ISO_8859_1);
                assertEquals("HTTP/1.1 413", response);
            }
        }
    }

    @Test
    void theStartLogSaysWhichKeysAreEnforced() throws Exception {
        Path dir = Files.createTempDirectory("spillway-keys-log");
        String url = "jdbc:sqlite:" + dir.resolve("spillway.db");
        try (Database db = Database.open(url, "", "")) {
            new KeyStore(db, Clock.systemUTC()).create("acme", "stored", Set.of(), false, 0, 0, 0, false, Optional.empty(), false, Optional.empty());
        }
        Logger logger = (Logger) LoggerFactory.getLogger(SpillwayServer.class);
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        logger.addAppender(logs);
        try (SpillwayServer server = TestServers.start(Map.of("database.url", url))) {
            String line = logs.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.startsWith("http: listening"))
                    .findFirst().orElseThrow();
            assertFalse(line.contains("open to anyone"), line);
            assertTrue(line.contains("key store"), line);
            assertEquals(401, call(server, json("GET", "/v1/models", null)).status(), "and the stored key is indeed enforced");
        } finally {
            logger.detachAppender(logs);
        }
    }
}
