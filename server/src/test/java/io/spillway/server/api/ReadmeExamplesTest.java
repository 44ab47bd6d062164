package io.spillway.server.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.server.SpillwayServer;
import io.spillway.server.testing.TestServers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's curl commands and Java SDK program, run exactly as written against a real server
 * (only the port is changed, from the documented 8000 to the test server's).
 */
class ReadmeExamplesTest {

    private static final Pattern BLOCK = Pattern.compile("```(bash|java)\\n(.*?)```", Pattern.DOTALL);
    private static SpillwayServer server;
    private static String readme;

    @BeforeAll
    static void start() throws Exception {
        server = TestServers.start(java.util.Map.of("embeddings.model", "builtin"));
        Path file = Paths.get("").toAbsolutePath();
        while (!Files.exists(file.resolve("README.md")) || !Files.exists(file.resolve("spillway"))) {
            file = file.getParent();
        }
        readme = Files.readString(file.resolve("README.md"));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static List<String> blocks(String language) {
        List<String> out = new ArrayList<>();
        Matcher m = BLOCK.matcher(readme);
        while (m.find()) {
            if (m.group(1).equals(language)) {
                out.add(m.group(2));
            }
        }
        return out;
    }

    @Test
    void curlExamplesWork() throws Exception {
        List<String> curls = blocks("bash").stream().filter(b -> b.strip().startsWith("curl")).toList();
        assertTrue(curls.size() >= 4, "the README shows curl examples");
        for (String block : curls) {
            String script = "set -euo pipefail\n" + block.replace("localhost:8000", "127.0.0.1:" + server.port())
                    .replace("curl ", "curl --fail-with-body -sS ");
            Process p = new ProcessBuilder("bash", "-c", script).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), block + "\n" + out);
            assertFalse(out.contains("\"error\""), out);
            assertTrue(out.contains("{"), out);
            if (block.contains("json_schema")) {
                assertTrue(out.matches("(?s).*\"content\":\"\\{.*\"finish_reason\":\"stop\".*"), "a document, ended: " + out);
            }
            if (block.contains("\"tool_choice\": \"required\"")) {
                assertTrue(out.contains("\"tool_calls\":[{") && out.contains("\"finish_reason\":\"tool_calls\""), out);
            }
        }
    }

    @Test
    void javaSdkExamplesWork(@TempDir Path dir) throws Exception {
        List<String> programs = blocks("java");
        assertEquals(2, programs.size(), "hello, and structured outputs with a tool call");
        for (String program : programs) {
            Matcher name = Pattern.compile("public class (\\w+)").matcher(program);
            assertTrue(name.find(), program);
            Path source = dir.resolve(name.group(1) + ".java");
            Files.writeString(source, program);
            String classpath = System.getProperty("java.class.path");
            int compiled = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-cp", classpath, "-d", dir.toString(),
                    source.toString());
            assertEquals(0, compiled, "the README's Java example " + name.group(1) + " compiles");
            ProcessBuilder pb = new ProcessBuilder(ProcessHandle.current().info().command().orElseThrow(), "-cp",
                    dir + java.io.File.pathSeparator + classpath, name.group(1)).redirectErrorStream(true);
            pb.environment().put("OPENAI_BASE_URL", "http://127.0.0.1:" + server.port() + "/v1");
            pb.environment().put("OPENAI_API_KEY", "unused");
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), out);
            if (name.group(1).equals("AgentSpillway")) {
                assertTrue(out.matches("(?s).*Forecast\\[city=[A-Za-z ]{1,30}, sky=(SUNNY|CLOUDY|RAINY), highCelsius=-?\\d+].*"
                        + "get_time \\{\\s*\"zone\"\\s*:\\s*\"(UTC|JST|CET)\"\\s*}.*"), out);
            }
        }
    }
}
