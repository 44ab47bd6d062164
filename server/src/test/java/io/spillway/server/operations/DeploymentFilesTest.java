package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import io.spillway.server.SpillwayServer;
import io.spillway.server.config.ConfigLoader;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.testing.TestServers;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The container and Kubernetes files, checked against the code they deploy (no hadolint or
 * kubeconform can be fetched here): every path the Dockerfile copies exists and is not ignored; the
 * manifests parse, name each other consistently, probe endpoints the server answers, scale on a
 * metric the server exports, and carry a configuration Spillway itself accepts.
 */
class DeploymentFilesTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** Dockerfile instructions with continuation lines joined and comments dropped. */
    static List<String> instructions(Path dockerfile) throws Exception {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String raw : Files.readAllLines(dockerfile)) {
            String line = raw.strip();
            if (line.startsWith("#") || (line.isEmpty() && current.isEmpty())) {
                continue;
            }
            if (line.endsWith("\\")) {
                current.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            current.append(line);
            if (!current.toString().isBlank()) {
                out.add(current.toString().strip());
            }
            current.setLength(0);
        }
        return out;
    }

    @Test
    void theDockerfileCopiesOnlyWhatExistsAndRunsAsItShould() throws Exception {
        Path dockerfile = ROOT.resolve("Dockerfile.cuda");
        List<String> ins = instructions(dockerfile);
        List<String> ignored = Files.readAllLines(ROOT.resolve(".dockerignore")).stream()
                .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        int copies = 0;
        for (String i : ins) {
            String[] words = i.split("\\s+");
            String op = words[0].toUpperCase(java.util.Locale.ROOT);
            assertTrue(List.of("ARG", "FROM", "RUN", "WORKDIR", "COPY", "ENV", "USER", "VOLUME", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD")
                    .contains(op), "unknown instruction: " + i);
            if (op.equals("COPY") && !i.contains("--from=")) {
                for (int w = 1; w < words.length - 1; w++) {
                    Path source = ROOT.resolve(words[w]);
                    assertTrue(Files.exists(source), "COPY source " + words[w] + " does not exist");
                    // As Docker reads it: the last line that matches decides, and a "!" line takes a path back in.
                    String decidedBy = null;
                    for (String line : ignored) {
                        boolean exception = line.startsWith("!");
                        String p = line.substring(exception ? 1 : 0).replace("**/", "").replaceAll("/$", "");
                        if (words[w].equals(p) || words[w].startsWith(p + "/") || words[w].contains("/" + p + "/")) {
                            decidedBy = exception ? null : line;
                        }
                    }
                    assertNull(decidedBy, words[w] + " is excluded by .dockerignore (" + decidedBy + ")");
                    copies++;
                }
            }
        }
        assertTrue(copies >= 8, "the build copies the poms and sources");
        assertTrue(ins.stream().anyMatch(i -> i.startsWith("USER ") && !i.equals("USER root") && !i.equals("USER 0")), "non-root user");
        assertTrue(ins.stream().anyMatch(i -> i.startsWith("HEALTHCHECK") && i.contains("/health")), "HEALTHCHECK on /health");
        assertTrue(ins.stream().anyMatch(i -> i.equals("EXPOSE 8000")));
        String entry = ins.stream().filter(i -> i.startsWith("ENTRYPOINT")).findFirst().orElseThrow();
        String jar = entry.replaceAll(".*\"(/[^\"]+\\.jar)\".*", "$1");
        assertTrue(ins.stream().anyMatch(i -> i.startsWith("COPY --from=build") && i.endsWith(" " + jar)), "the entrypoint's jar is copied: " + jar);
        assertTrue(ins.stream().filter(i -> i.startsWith("FROM ")).count() >= 3, "multi-stage");
        assertTrue(ins.stream().anyMatch(i -> i.contains("UseZGC")), "the JVM flags are set");
        assertTrue(runtimeStage(ins).stream().anyMatch(i -> i.startsWith("ENV ") && i.contains("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True")),
                "the CUDA caching allocator grows segments instead of fragmenting the KV cache's neighbourhood (set where the server runs)");
        assertTrue(ins.stream().anyMatch(i -> i.equals("COPY deploy/gpu-acceptance /opt/spillway/gpu-acceptance")),
                "the image carries the acceptance script");
        assertTrue(ins.stream().anyMatch(i -> i.startsWith("ENV ") && i.contains("SPILLWAY_JAR=" + jar)),
                "the acceptance script runs the entrypoint's jar: " + jar);
    }

    /**
     * DJL extracts native libraries into its cache on first use, at run time: a cache the runtime
     * user cannot write fails every tokenizer load. The final stage's cache must be copied owned by
     * the user the image runs as, created before the copy.
     */
    @Test
    void theRuntimeUserOwnsDjlsCache() throws Exception {
        List<String> runtime = runtimeStage(instructions(ROOT.resolve("Dockerfile.cuda")));
        String cache = runtime.stream().filter(i -> i.startsWith("ENV ") && i.contains("DJL_CACHE_DIR="))
                .map(i -> i.replaceAll("(?s).*DJL_CACHE_DIR=(\\S+).*", "$1")).findFirst().orElseThrow();
        String user = runtime.stream().filter(i -> i.startsWith("USER ")).reduce((a, b) -> b).orElseThrow().substring(5).strip();
        List<String> copies = runtime.stream().filter(i -> i.startsWith("COPY ") && i.endsWith(" " + cache)).toList();
        assertFalse(copies.isEmpty(), "the runtime stage copies DJL's cache to " + cache);
        for (String copy : copies) {
            assertTrue(copy.contains("--chown=" + user + ":") || copy.contains("--chown=" + user + " "), "owned by " + user + ": " + copy);
            int at = runtime.indexOf(copy);
            assertTrue(runtime.subList(0, at).stream().anyMatch(i -> i.startsWith("RUN ") && i.contains("useradd") && i.contains(user)),
                    user + " exists before " + copy);
        }
    }

    /** The instructions of the last stage, the image that runs. */
    private static List<String> runtimeStage(List<String> ins) {
        int last = 0;
        for (int i = 0; i < ins.size(); i++) {
            if (ins.get(i).startsWith("FROM ")) {
                last = i;
            }
        }
        return ins.subList(last, ins.size());
    }

    private static List<JsonNode> manifests() throws Exception {
        List<JsonNode> docs = new ArrayList<>();
        try (Stream<Path> files = Files.list(ROOT.resolve("deploy/kubernetes"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                try (YAMLParser parser = new YAMLFactory().createParser(f.toFile())) {
                    for (JsonNode doc : YAML.readValues(parser, JsonNode.class).readAll()) {
                        if (doc != null && !doc.isNull()) {
                            docs.add(doc);
                        }
                    }
                }
            }
        }
        return docs;
    }

    @Test
    void theManifestsAreConsistentWithEachOtherAndWithTheServer() throws Exception {
        Map<String, JsonNode> byKind = new HashMap<>();
        Map<String, JsonNode> configMaps = new HashMap<>();
        for (JsonNode doc : manifests()) {
            String kind = doc.path("kind").asText();
            assertFalse(doc.path("apiVersion").asText().isEmpty(), "apiVersion of " + doc);
            assertFalse(doc.path("metadata").path("name").asText().isEmpty(), "metadata.name of " + kind);
            if (kind.equals("ConfigMap")) {
                configMaps.put(doc.path("metadata").path("name").asText(), doc);
            } else {
                byKind.put(kind, doc);
            }
        }
        for (String kind : List.of("Deployment", "Service", "PodDisruptionBudget", "Secret", "HorizontalPodAutoscaler",
                "PersistentVolumeClaim")) {
            assertNotNull(byKind.get(kind), kind + " is defined");
        }
        JsonNode deployment = byKind.get("Deployment");
        JsonNode pod = deployment.path("spec").path("template");
        JsonNode labels = pod.path("metadata").path("labels");
        assertEquals(deployment.path("spec").path("selector").path("matchLabels"), labels);
        assertEquals(labels, byKind.get("Service").path("spec").path("selector"));
        assertEquals(labels, byKind.get("PodDisruptionBudget").path("spec").path("selector").path("matchLabels"));
        JsonNode container = pod.path("spec").path("containers").get(0);
        assertEquals("1", container.path("resources").path("limits").path("nvidia.com/gpu").asText());
        assertEquals("http", byKind.get("Service").path("spec").path("ports").get(0).path("targetPort").asText());
        assertEquals("http", container.path("ports").get(0).path("name").asText());
        assertEquals("/ready", container.path("readinessProbe").path("httpGet").path("path").asText());
        assertEquals("/health", container.path("livenessProbe").path("httpGet").path("path").asText());
        assertEquals(byKind.get("Secret").path("metadata").path("name").asText(),
                container.path("envFrom").get(0).path("secretRef").path("name").asText());

        // The ConfigMap's configuration is one Spillway accepts, and its port and grace fit the pod.
        JsonNode volumes = pod.path("spec").path("volumes");
        String configMapName = null;
        String claim = null;
        for (JsonNode v : volumes) {
            if (v.has("configMap")) {
                configMapName = v.path("configMap").path("name").asText();
            }
            if (v.has("persistentVolumeClaim")) {
                claim = v.path("persistentVolumeClaim").path("claimName").asText();
            }
        }
        assertEquals(byKind.get("PersistentVolumeClaim").path("metadata").path("name").asText(), claim);
        JsonNode configMap = configMaps.get(configMapName);
        assertNotNull(configMap, "the pod's ConfigMap " + configMapName + " is defined");
        String args = container.path("args").toString();
        String file = configMap.path("data").fieldNames().next();
        assertTrue(args.contains("/etc/spillway/" + file), args);
        Path config = Files.createTempFile("spillway-k8s", ".yaml");
        Files.writeString(config, configMap.path("data").path(file).asText());
        ServerConfig parsed = ConfigLoader.defaults().file(config).build();
        assertEquals(container.path("ports").get(0).path("containerPort").asInt(), parsed.server().port());
        assertTrue(parsed.server().shutdownGraceSeconds() < pod.path("spec").path("terminationGracePeriodSeconds").asDouble(),
                "the server finishes draining before Kubernetes kills it");
        for (String key : List.of("SPILLWAY_DATABASE_URL", "SPILLWAY_DATABASE_USER", "SPILLWAY_DATABASE_PASSWORD")) {
            assertTrue(byKind.get("Secret").path("stringData").has(key), key);
        }
        // Replicas agree through PostgreSQL: collections, rate limits and the semantic cache are shared, not per pod.
        assertTrue(byKind.get("Secret").path("stringData").path("SPILLWAY_DATABASE_URL").asText().startsWith("jdbc:postgresql:"));
        ServerConfig.Database pg = new ServerConfig.Database(byKind.get("Secret").path("stringData").path("SPILLWAY_DATABASE_URL").asText(),
                "", "", parsed.database().connectionTimeoutMs());
        assertEquals("database", parsed.collections().store(), "collections shared, not posted to every pod");
        assertTrue(parsed.keys().sharedLimits(pg), "rate-limit windows shared");
        assertTrue(parsed.cache().sharedSemantic(pg), "semantic cache entries shared");
        assertTrue(deployment.path("spec").path("replicas").asInt() > 1);

        // The probes answer and the autoscaler's metric exists on a real server.
        JsonNode hpa = byKind.get("HorizontalPodAutoscaler");
        assertEquals(deployment.path("metadata").path("name").asText(), hpa.path("spec").path("scaleTargetRef").path("name").asText());
        String metric = hpa.path("spec").path("metrics").get(0).path("pods").path("metric").path("name").asText();
        assertTrue(configMaps.get("prometheus-adapter-spillway").path("data").path("config.yaml").asText().contains(metric));
        try (SpillwayServer server = TestServers.start(Map.of())) {
            HttpClient http = HttpClient.newHttpClient();
            for (String path : List.of("/ready", "/health", "/metrics")) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(TestServers.baseUrl(server) + path)).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), path);
                if (path.equals("/metrics")) {
                    assertTrue(r.body().contains("\n" + metric + " "), "the server exports " + metric);
                }
            }
        }
    }
}
