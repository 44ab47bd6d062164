package io.spillway.server.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.SpillwayServer;
import io.spillway.server.cli.SpillwayCli;
import io.spillway.server.testing.TestServers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code spillway bench serve} against a real server: a small sweep, its JSON and plot, and a comparison. */
class BenchServeTest {

    private static String run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, SpillwayCli.execute(args), () -> bytes.toString(StandardCharsets.UTF_8));
            return bytes.toString(StandardCharsets.UTF_8);
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    void aSweepWritesItsResultAndPlotAndComparesWithAnother() throws Exception {
        Path dir = Files.createTempDirectory("spillway-bench");
        try (SpillwayServer server = TestServers.start(Map.of())) {
            String url = TestServers.baseUrl(server);
            String table = run("bench", "serve", "--url", url, "--model", server.model().name(), "--request-rate", "2,6",
                    "--concurrency", "2", "--prompt-tokens", "32", "--output-tokens", "16", "--duration", "2s", "--warmup", "2",
                    "--output", dir.resolve("a.json").toString(), "--plot", dir.resolve("a.png").toString());
            assertTrue(table.contains("2.00 req/s") && table.contains("2 clients"), table);
            run("bench", "serve", "--url", url, "--model", server.model().name(), "--request-rate", "2,6", "--concurrency", "2",
                    "--prompt-tokens", "32", "--output-tokens", "16", "--duration", "2s", "--output", dir.resolve("b.json").toString());
        }
        BenchResult a = new com.fasterxml.jackson.databind.ObjectMapper().readValue(dir.resolve("a.json").toFile(), BenchResult.class);
        assertEquals(3, a.runs().size());
        int itlSamples = 0;
        for (BenchResult.Run r : a.runs()) {
            assertTrue(r.completed() > 0 && r.errors() == 0, r.toString());
            assertTrue(r.elapsedSeconds() >= 2, "rates are over the whole window: " + r);
            assertTrue(r.ttftMs().p50() > 0 && r.ttftMs().p99() >= r.ttftMs().p50(), r.toString());
            assertTrue(r.e2eMs().p50() >= r.ttftMs().p50(), r.toString());
            assertTrue(r.outputTokensPerSecond() > 0, r.toString());
            assertEquals(Map.of("local", r.completed()), r.routes());
            itlSamples += r.itlMs().count();
        }
        // The demo model's random bytes often decode to nothing for a few tokens, so not every
        // request has two content chunks; across the sweep many do.
        assertTrue(itlSamples > 0, "inter-token latencies were measured");
        byte[] png = Files.readAllBytes(dir.resolve("a.png"));
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, Arrays.copyOf(png, 4));
        String compared = run("bench", "compare", dir.resolve("a.json").toString(), dir.resolve("b.json").toString(),
                "--plot", dir.resolve("ab.png").toString());
        assertTrue(compared.contains("TTFT p99 ms") && compared.contains("%"), compared);
        assertTrue(Files.size(dir.resolve("ab.png")) > 1000);
    }
}
