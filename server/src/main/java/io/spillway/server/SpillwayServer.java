package io.spillway.server;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.LoadFormat;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.server.api.ApiRouter;
import io.spillway.server.api.Generations;
import io.spillway.server.api.ServedModel;
import io.spillway.server.cli.SpillwayVersion;
import io.spillway.server.config.ConfigException;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.engine.Engine;
import io.spillway.server.http.HttpServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The whole server: the engine with its model, the API, the HTTP listener. */
public final class SpillwayServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SpillwayServer.class);

    private final Engine engine;
    private final HttpServer http;
    private final ServedModel model;
    private final PrometheusRegistry registry;

    private SpillwayServer(Engine engine, HttpServer http, ServedModel model, PrometheusRegistry registry) {
        this.engine = engine;
        this.http = http;
        this.model = model;
        this.registry = registry;
    }

    public static SpillwayServer start(ServerConfig config, Clock clock) throws InterruptedException {
        ServerConfig.Model m = config.model();
        boolean demo = m.demo();
        Path dir = demo ? DemoModel.write() : Paths.get(m.path());
        if (!demo && !Files.isDirectory(dir)) {
            throw new ConfigException("model.path " + dir + " is not a directory");
        }
        ComputeTarget target = ComputeTarget.resolve(m.device(), m.dtype());
        LoadFormat format = demo ? LoadFormat.DUMMY : LoadFormat.parse(m.loadFormat());
        ModelLoadOptions options = new ModelLoadOptions(dir, format, target, m.maxModelLength(), m.seed());
        String name = !m.servedName().isBlank() ? m.servedName() : demo ? DemoModel.NAME : dir.toAbsolutePath().normalize().getFileName().toString();
        String template = null;
        if (!m.chatTemplate().isBlank()) {
            try {
                template = Files.readString(Paths.get(m.chatTemplate()));
            } catch (IOException e) {
                throw new ConfigException("model.chat-template: cannot read " + m.chatTemplate() + ": " + e.getMessage(), e);
            }
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        long loadStart = System.nanoTime();
        Engine engine = Engine.start(options, config.engine().toEngineConfig(target.isGpu()), registry);
        try {
            LOG.info("model: {} from {} ({}{}) on {}, max-model-len {}, loaded in {} ms", name, demo ? "the built-in demo" : dir,
                    format == LoadFormat.DUMMY ? "random weights" : "safetensors",
                    demo ? "; a demo: its output is noise" : "", target, engine.maxModelLength(), (System.nanoTime() - loadStart) / 1_000_000);
            if (engine.model().tokenizer().isEmpty()) {
                LOG.info("model: {} has no tokenizer.json: it serves prompts given as token ids", name);
            }
            ServedModel served = new ServedModel(name, demo ? DemoModel.OWNER : "spillway", engine, template, clock);
            String fingerprint = String.format("fp_%08x", (name + "/" + SpillwayVersion.current()).hashCode());
            ApiRouter router = new ApiRouter(served, new Generations(clock, fingerprint), config.server().apiKeys(), registry,
                    engine::running, SpillwayVersion.current());
            HttpServer http = HttpServer.start(config.server(), router);
            LOG.info("http: listening on {}:{}{}", config.server().host(), http.port(),
                    config.server().apiKeys().isEmpty() ? " (no API keys: open to anyone who can reach it)" : " (API keys required)");
            return new SpillwayServer(engine, http, served, registry);
        } catch (RuntimeException | InterruptedException e) {
            engine.close();
            throw e;
        }
    }

    public int port() {
        return http.port();
    }

    public Engine engine() {
        return engine;
    }

    public ServedModel model() {
        return model;
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    @Override
    public void close() {
        http.stopAccepting();
        http.close();
        engine.close();
    }
}
