package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.server.SpillwayServer;
import io.spillway.server.engine.EngineStats;
import io.spillway.server.testing.TestServers;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A streaming client that stops reading: its generation stops within a few steps instead of
 * filling memory with what nobody reads, it goes on when the client reads again, and a client
 * that never does is dropped after the slow-reader timeout, its request ended.
 */
class SlowReaderTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHOICES = 2;
    private static final int MAX_TOKENS = 800;
    /** Each token's chunk carries 20 alternatives: a few kilobytes, so the connection fills long before the answer ends. */
    private static final String REQUEST = "{\"model\":\"spillway-demo\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],"
            + "\"n\":" + CHOICES + ",\"max_tokens\":" + MAX_TOKENS + ",\"ignore_eos\":true,\"temperature\":1,\"seed\":7,"
            + "\"logprobs\":true,\"top_logprobs\":20,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";

    private static Socket stalledClient(SpillwayServer server) throws Exception {
        Socket socket = new Socket();
        socket.setReceiveBufferSize(4096);
        socket.connect(new InetSocketAddress("127.0.0.1", server.port()));
        byte[] body = REQUEST.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write(("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(body);
        out.flush();
        return socket;
    }

    /**
     * Waits until the engine's generated-token count has not moved for {@code quietMillis}; returns
     * it. The connection's buffers (kernel and Netty) take what they can first, in bursts as the
     * client's kernel absorbs a little more: a few seconds of quiet mean they are full.
     */
    private static long plateau(SpillwayServer server, long quietMillis, long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        long last = -1;
        long since = System.currentTimeMillis();
        while (System.currentTimeMillis() < deadline) {
            long now = server.engine().stats().generatedTokens();
            if (now != last) {
                last = now;
                since = System.currentTimeMillis();
            } else if (now > 0 && System.currentTimeMillis() - since >= quietMillis) {
                return now;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("generation never paused; generated " + last + " tokens");
    }

    @Test
    void aStalledReaderPausesItsGenerationWhichResumesWhenItReadsAgain() throws Exception {
        try (SpillwayServer server = TestServers.start(Map.of("server.slow-reader-timeout-seconds", "60"))) {
            try (Socket socket = stalledClient(server)) {
                long paused = plateau(server, 3000, 120_000);
                Thread.sleep(3000);
                EngineStats stats = server.engine().stats();
                assertEquals(paused, stats.generatedTokens(), "still paused 3 s later, not a stall of the machine: " + stats);
                assertEquals(CHOICES, stats.running(), "the request is held, not ended: " + stats);
                assertTrue(paused < (long) CHOICES * MAX_TOKENS, "generation stopped at " + paused + " of " + CHOICES * MAX_TOKENS);

                // Reading again resumes it to the end, every token delivered.
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                socket.setSoTimeout(60_000);
                int finished = 0;
                JsonNode usage = null;
                String line;
                while ((line = in.readLine()) != null && !line.equals("data: [DONE]")) {
                    if (line.startsWith("data: {")) {
                        JsonNode chunk = JSON.readTree(line.substring(6));
                        if (chunk.path("choices").size() == 1 && chunk.at("/choices/0/finish_reason").isTextual()) {
                            assertEquals("length", chunk.at("/choices/0/finish_reason").asText());
                            finished++;
                        }
                        if (chunk.hasNonNull("usage")) {
                            usage = chunk.get("usage");
                        }
                    }
                }
                assertEquals(CHOICES, finished);
                assertEquals(CHOICES * MAX_TOKENS, usage.path("completion_tokens").asInt());
            }
        }
    }

    @Test
    void aReaderThatNeverReadsAgainIsDroppedAfterTheTimeoutAndItsRequestEnds() throws Exception {
        try (SpillwayServer server = TestServers.start(Map.of("server.slow-reader-timeout-seconds", "2"))) {
            try (Socket socket = stalledClient(server)) {
                long paused = plateau(server, 3000, 120_000);
                long deadline = System.currentTimeMillis() + 15_000;
                while (server.engine().stats().running() > 0 && System.currentTimeMillis() < deadline) {
                    Thread.sleep(50);
                }
                EngineStats stats = server.engine().stats();
                assertEquals(0, stats.running(), "the dropped reader's request ended: " + stats);
                assertTrue(stats.generatedTokens() < (long) CHOICES * MAX_TOKENS, "it ended early: " + stats.generatedTokens());
                assertTrue(stats.generatedTokens() - paused <= 2L * CHOICES, "nothing ran on after the pause but a step in flight");
            }
        }
    }
}
