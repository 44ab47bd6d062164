package io.spillway.server.dashboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import io.spillway.server.SpillwayServer;
import io.spillway.server.testing.TestServers;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The dashboard in a real browser (Debian's headless Chromium): the page loads and charts the
 * server's metrics, the charts move while load runs, and the playground's reply grows in the page
 * as the stream arrives. {@code .ci/run} installs Chromium; in CI its absence fails the test.
 */
class DashboardBrowserTest {

    private static Path chromium() {
        var found = HeadlessChromium.find();
        if (found.isEmpty()) {
            if (io.spillway.models.testing.SharedData.inCi()) {
                fail("no chromium on PATH: .ci/run installs Debian's chromium package");
            }
            Assumptions.abort("no chromium on PATH (apt-get install chromium) to run the browser test");
        }
        return found.get();
    }

    private static JsonNode waitFor(HeadlessChromium browser, String condition, String value, long timeoutMs) throws Exception {
        long end = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < end) {
            if (browser.eval(condition).asBoolean(false)) {
                return browser.eval(value);
            }
            Thread.sleep(100);
        }
        fail("timed out waiting for " + condition + "; state: " + browser.eval("JSON.stringify(window.spillwayDashboard)"));
        return null;
    }

    @Test
    void chartsFollowTheLoadAndThePlaygroundStreams() throws Exception {
        Path binary = chromium();
        try (SpillwayServer server = TestServers.start(Map.of());
             HeadlessChromium browser = new HeadlessChromium(binary, TestServers.baseUrl(server) + "/dashboard/")) {
            waitFor(browser, "!!(window.spillwayDashboard && window.spillwayDashboard.updates >= 2)", "1", 30_000);
            assertEquals(server.model().name(), browser.eval("document.getElementById('model').textContent").asText());
            assertEquals("live", browser.eval("document.getElementById('status').textContent").asText());
            assertEquals(0.0, browser.eval("window.spillwayDashboard.last.tps").asDouble(), "idle before the load");

            AtomicBoolean loading = new AtomicBoolean(true);
            HttpClient http = HttpClient.newBuilder().executor(Executors.newVirtualThreadPerTaskExecutor()).build();
            String body = """
                    {"model": "%s", "messages": [{"role": "user", "content": "load"}], "max_tokens": 64, "ignore_eos": true,
                     "temperature": 1}""".formatted(server.model().name());
            try (ExecutorService load = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int c = 0; c < 4; c++) {
                    load.submit(() -> {
                        while (loading.get()) {
                            http.send(HttpRequest.newBuilder(URI.create(TestServers.baseUrl(server) + "/v1/chat/completions"))
                                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                                    HttpResponse.BodyHandlers.ofString());
                        }
                        return null;
                    });
                }
                double tps = waitFor(browser, "window.spillwayDashboard.last.tps > 0 && window.spillwayDashboard.last.p50 !== null",
                        "window.spillwayDashboard.last.tps", 30_000).asDouble();
                assertTrue(tps > 0);
                // The chart itself holds the points: a tokens/s line that rose above zero, TTFT points drawn.
                assertTrue(browser.eval("Math.max(...charts.tps.data.datasets[0].data.filter(v => v !== null))").asDouble() > 0);
                assertTrue(browser.eval("charts.ttft.data.datasets[0].data.filter(v => v !== null).length").asInt() > 0);
                assertTrue(browser.eval("charts.queue.data.labels.length").asInt() >= 3);
                loading.set(false);
            }

            browser.eval("document.getElementById('chat-input').value = 'Hello from the browser test';"
                    // Long enough to outlast the browser's read cadence: the demo model makes a token in about a
                    // millisecond when idle, and 200 tokens arrived in two reads.
                    + " document.getElementById('chat-max').value = '1500';"
                    + " document.getElementById('chat-extra').value = '{\"min_tokens\": 1500}';"
                    + " document.getElementById('chat-send').click(); true");
            // Watch the page from outside, through DevTools: the reply's text, read at many moments
            // while the request runs (the send button stays disabled until it has ended), must only
            // grow and be seen part-way several times. The page's own counters are not evidence of that.
            List<String> seen = new ArrayList<>();
            long end = System.currentTimeMillis() + 60_000;
            while (browser.eval("document.getElementById('chat-send').disabled").asBoolean()) {
                assertTrue(System.currentTimeMillis() < end, "the reply did not end within 60 s; seen " + seen.size() + " states");
                seen.add(browser.eval("document.getElementById('chat-output').textContent").asText());
            }
            String reply = browser.eval("document.getElementById('chat-output').textContent").asText();
            String meta = browser.eval("document.getElementById('chat-meta').textContent").asText();
            assertTrue(meta.contains("route local"), "the request ended well: " + meta + " / " + reply);
            assertTrue(reply.length() > 100, "a long reply: " + reply.length() + " chars");
            for (String s : seen) {
                assertTrue(reply.startsWith(s), "the text only grows: '" + s + "' is not the start of the reply");
            }
            long partial = seen.stream().filter(s -> !s.isEmpty() && s.length() < reply.length()).distinct().count();
            System.out.printf("dashboard: the reply (%d chars) was seen part-way at %d lengths in %d looks%n", reply.length(), partial,
                    seen.size());
            assertTrue(partial >= 3, "the reply was seen part-way " + partial + " times in " + seen.size() + " looks: it arrived at once");
        }
    }
}
