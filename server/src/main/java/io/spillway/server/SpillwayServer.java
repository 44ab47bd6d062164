package io.spillway.server;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.LoadFormat;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.server.api.ApiRouter;
import io.spillway.server.embeddings.EmbeddingModel;
import io.spillway.server.embeddings.EmbeddingModelSource;
import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.server.embeddings.Pooling;
import io.spillway.server.generation.Generator;
import io.spillway.server.http.HttpServer;
import io.spillway.server.local.LocalGenerator;
import io.spillway.server.local.StructuredOutputCheck;
import io.spillway.server.local.ServedModel;
import io.spillway.server.output.ToolCallFormat;
import io.spillway.server.platform.PlatformServices;
import io.spillway.server.rag.Collections;
import io.spillway.server.rag.CollectionsApi;
import io.spillway.server.rag.RetrievalStage;
import io.spillway.server.store.CollectionCatalog;
import io.spillway.server.store.EmbeddedCatalog;
import io.spillway.server.router.Backoff;
import io.spillway.server.router.BedrockGateway;
import io.spillway.server.router.BedrockGenerator;
import io.spillway.server.router.CircuitBreaker;
import io.spillway.server.router.SpillPolicy;
import io.spillway.server.router.SpillTarget;
import io.spillway.vectors.StorageOptions;
import java.time.Duration;
import java.util.Optional;
import io.spillway.server.config.ConfigException;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.demo.DemoModel;
import io.spillway.server.engine.BatchRunner;
import io.spillway.server.engine.Engine;
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
    private final Optional<EmbeddingService> embeddings;
    private final Collections collections;
    private final Optional<BedrockGateway> bedrock;
    private final PlatformServices platform;
    private boolean closed;

    private SpillwayServer(Engine engine, HttpServer http, ServedModel model, PrometheusRegistry registry,
                           Optional<EmbeddingService> embeddings, Collections collections, Optional<BedrockGateway> bedrock,
                           PlatformServices platform) {
        this.bedrock = bedrock;
        this.platform = platform;
        this.engine = engine;
        this.http = http;
        this.model = model;
        this.registry = registry;
        this.embeddings = embeddings;
        this.collections = collections;
    }

    public static SpillwayServer start(ServerConfig config, Clock clock) throws InterruptedException {
        return start(config, clock, java.util.function.UnaryOperator.identity());
    }

    /**
     * As {@link #start(ServerConfig, Clock)}, with the engine's every batch run through {@code around}
     * applied to its model runner: how the tests make a CPU fail as a GPU does.
     */
    public static SpillwayServer start(ServerConfig config, Clock clock, java.util.function.UnaryOperator<BatchRunner> around)
            throws InterruptedException {
        ServerConfig.Model m = config.model();
        boolean demo = m.demo();
        Path dir = demo ? DemoModel.write() : locate(m.path(), config.hub());
        if (!demo && !Files.isDirectory(dir)) {
            throw new ConfigException("model.path " + dir + " is not a directory");
        }
        ComputeTarget target = ComputeTarget.resolve(m.device(), m.dtype());
        LoadFormat format = demo ? LoadFormat.DUMMY : LoadFormat.parse(m.loadFormat());
        ModelLoadOptions options = new ModelLoadOptions(dir, format, target, m.maxModelLength(), m.seed())
                .withQuantization(m.weightQuantization()).withAttention(m.attentionChoice());
        if (m.projectionLayout() != null) {
            options = options.withProjectionLayout(m.projectionLayout());
        }
        // A Hub model is served under its id (org/name), as vLLM does; a directory under its name.
        java.util.Optional<io.spillway.models.hub.HubModel> hubId = demo || Files.isDirectory(Paths.get(m.path()))
                ? java.util.Optional.empty() : io.spillway.models.hub.HubModel.parse(m.path());
        String name = !m.servedName().isBlank() ? m.servedName() : demo ? DemoModel.NAME
                : hubId.map(io.spillway.models.hub.HubModel::repo).orElse(dir.toAbsolutePath().normalize().getFileName().toString());
        String template = null;
        if (!m.chatTemplate().isBlank()) {
            try {
                template = Files.readString(Paths.get(m.chatTemplate()));
            } catch (IOException e) {
                throw new ConfigException("model.chat-template: cannot read " + m.chatTemplate() + ": " + e.getMessage(), e);
            }
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        Optional<EmbeddingService> embeddings = startEmbeddings(config.embeddings(), registry);
        ServerConfig.Collections cc = config.collections();
        Collections collections = null;
        long loadStart = System.nanoTime();
        Optional<BedrockGateway> bedrock = Optional.empty();
        PlatformServices platform = null;
        Engine engine;
        try {
            long reserved = reservedForEmbeddings(target, embeddings.map(service -> service.model().device()),
                    config.embeddings().gpuMemoryBytes());
            engine = Engine.start(options, config.engine().toEngineConfig(target.isGpu()).withReservedDeviceBytes(reserved), registry, around);
        } catch (RuntimeException e) {
            embeddings.ifPresent(EmbeddingService::close);
            throw e;
        }
        try {
            LOG.info("model: {} from {} ({}{}) on {}, {}, max-model-len {}, loaded in {} ms", name, demo ? "the built-in demo" : dir,
                    format == LoadFormat.DUMMY ? "random weights" : "safetensors",
                    demo ? "; a demo: its output is noise" : "", target, engine.model().model().weightSummary().describe(),
                    engine.maxModelLength(), (System.nanoTime() - loadStart) / 1_000_000);
            if (engine.model().tokenizer().isEmpty()) {
                LOG.info("model: {} has no tokenizer.json: it serves prompts given as token ids", name);
            }
            Optional<ToolCallFormat> toolFormat = m.toolCallParser().equals("auto") ? Optional.empty()
                    : Optional.of(ToolCallFormat.parse(m.toolCallParser()));
            ServedModel served = new ServedModel(name, demo ? DemoModel.OWNER : "spillway", engine, template, toolFormat, clock);
            String fingerprint = String.format("fp_%08x", (name + "/" + Version.current()).hashCode());
            LocalGenerator local = new LocalGenerator(served, fingerprint);
            bedrock = bedrockGateway(config);
            Optional<SpillTarget> spillTarget = bedrock.map(g -> new BedrockGenerator(g, config.router().models(), registry));
            SpillPolicy spill = new SpillPolicy(local, name, engine::estimatedQueueWaitSeconds, config.router(), spillTarget,
                    config.safety().detectedPii(), registry);
            platform = PlatformServices.start(config, embeddings, clock);
            CollectionCatalog catalog = cc.store().equals("database") ? platform.sharedCatalog().orElseThrow()
                    : new EmbeddedCatalog(cc.resolvedDataDir(), new StorageOptions(cc.fsync(), cc.snapshotAfterLogBytes()));
            collections = new Collections(catalog, embeddings, cc.chunkTokens(), cc.chunkOverlapTokens(), Duration.ofMillis(cc.minSeqWaitMs()));
            Generator pipeline = platform.around(new RetrievalStage(new StructuredOutputCheck(spill), collections, local), registry);
            ApiRouter router = new ApiRouter(new ApiRouter.Parts(served, spill.models(), pipeline, config.server().apiKeys(),
                    Optional.of(platform.keys()), embeddings, new CollectionsApi(collections), registry, engine::health,
                    Version.current(), clock));
            ServerConfig.Server s = config.server();
            HttpServer http = HttpServer.start(new HttpServer.Settings(s.host(), s.port(), s.maxBodyBytes(),
                    seconds(s.requestReadTimeoutSeconds()), seconds(s.idleTimeoutSeconds()), seconds(s.slowReaderTimeoutSeconds()),
                    s.socketSendBufferBytes()),
                    router, router.errors());
            LOG.info("http: listening on {}:{} ({})", s.host(), http.port(), router.authentication());
            LOG.info("collections: {}", cc.store().equals("database") ? "in the database, shared by replicas (this replica's indexes under "
                    + cc.resolvedDataDir().resolve("replica") + ")" : "stored under " + cc.resolvedDataDir());
            return new SpillwayServer(engine, http, served, registry, embeddings, collections, bedrock, platform);
        } catch (RuntimeException | InterruptedException e) {
            bedrock.ifPresent(BedrockGateway::close);
            if (collections != null) {
                try {
                    collections.close();
                } catch (IOException closing) {
                    e.addSuppressed(closing);
                }
            }
            if (platform != null) {
                platform.close();
            }
            engine.close();
            embeddings.ifPresent(EmbeddingService::close);
            throw e;
        }
    }

    private static Duration seconds(double seconds) {
        return Duration.ofNanos((long) (seconds * 1e9));
    }

    /** A model directory, or a Hub model id fetched into the Hub's cache (a path that exists wins). */
    public static Path locate(String model, ServerConfig.Hub hub) {
        Path path = Paths.get(model);
        if (Files.isDirectory(path)) {
            return path;
        }
        java.util.Optional<io.spillway.models.hub.HubModel> id = io.spillway.models.hub.HubModel.parse(model);
        if (id.isEmpty()) {
            return path;
        }
        java.io.PrintStream terminal = System.console() != null ? System.err : null;
        try {
            return new io.spillway.models.hub.HubDownloader(hub.settings(System.getenv()), terminal).resolve(id.get());
        } catch (RuntimeException e) {
            throw new ConfigException("model " + model + ": " + e.getMessage(), e);
        }
    }

    /** The Bedrock client, when any routed model lives on Bedrock. */
    private static Optional<BedrockGateway> bedrockGateway(ServerConfig config) {
        if (config.router().models().stream().noneMatch(ServerConfig.ModelRoute::onBedrock)) {
            return Optional.empty();
        }
        ServerConfig.Bedrock b = config.bedrock();
        BedrockGateway.Settings settings = new BedrockGateway.Settings(
                b.endpoint().isBlank() ? Optional.empty() : Optional.of(java.net.URI.create(b.endpoint())),
                b.region().isBlank() ? Optional.empty() : Optional.of(b.region()),
                Duration.ofMillis(b.connectTimeoutMs()), Duration.ofMillis(b.chunkTimeoutMs()), Duration.ofMillis(b.callTimeoutMs()),
                new Backoff(Duration.ofMillis(b.retryBaseMs()), Duration.ofMillis(b.retryCapMs()), b.maxAttempts(),
                        Duration.ofMillis(b.retryDeadlineMs())),
                b.breakerFailures(), Duration.ofMillis((long) (b.breakerOpenSeconds() * 1000)));
        LOG.info("router: Bedrock at {} for {}", b.endpoint().isBlank() ? "the SDK's default endpoint" : b.endpoint(),
                config.router().models().stream().filter(ServerConfig.ModelRoute::onBedrock).map(ServerConfig.ModelRoute::name).toList());
        return Optional.of(new BedrockGateway(settings, new CircuitBreaker(settings.breakerFailures(), settings.breakerOpenFor(),
                Clock.systemUTC())));
    }

    private static Optional<EmbeddingService> startEmbeddings(ServerConfig.Embeddings e, PrometheusRegistry registry) {
        if (!e.enabled()) {
            return Optional.empty();
        }
        EmbeddingModelSource source;
        if (e.model().equals(EmbeddingModelSource.BUILTIN)) {
            source = EmbeddingModelSource.builtin();
            if (!e.servedName().isBlank() || !e.pooling().equals("auto") || !e.normalize().equals("auto") || e.maxLength() > 0) {
                source = new EmbeddingModelSource(e.servedName().isBlank() ? source.name() : e.servedName(), source.onnx(), source.tokenizer(),
                        e.pooling().equals("auto") ? source.pooling() : Pooling.parse(e.pooling()),
                        e.normalize().equals("auto") ? source.normalize() : Boolean.parseBoolean(e.normalize()),
                        e.maxLength() > 0 ? e.maxLength() : source.maxLength());
            }
        } else {
            try {
                source = EmbeddingModelSource.fromDirectory(Paths.get(e.model()), Optional.of(e.servedName()),
                        e.pooling().equals("auto") ? Optional.empty() : Optional.of(Pooling.parse(e.pooling())),
                        e.normalize().equals("auto") ? Optional.empty() : Optional.of(Boolean.parseBoolean(e.normalize())), e.maxLength());
            } catch (IllegalArgumentException | java.io.UncheckedIOException ex) {
                throw new ConfigException("embeddings.model: " + ex.getMessage(), ex);
            }
        }
        try {
            return Optional.of(new EmbeddingService(EmbeddingModel.load(source, e.device(), e.gpuMemoryBytes()), e.maxBatchSize(),
                    Duration.ofNanos((long) (e.maxBatchWaitMs() * 1e6)), e.maxQueuedInputs(), registry));
        } catch (IOException ex) {
            throw new ConfigException("embeddings.model: " + ex.getMessage(), ex);
        }
    }

    /**
     * What the engine keeps out of its KV cache for the embedding model: its arena's cap when it
     * runs on the engine's GPU, else nothing.
     *
     * @param embeddingDevice where the embedding model runs ("cpu", "cuda:N"), if there is one
     */
    static long reservedForEmbeddings(ComputeTarget engine, Optional<String> embeddingDevice, long cap) {
        boolean shared = engine.isGpu() && embeddingDevice.filter(d -> d.equals("cuda:" + engine.device().getDeviceId())).isPresent();
        return shared ? cap : 0;
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

    public Optional<EmbeddingService> embeddings() {
        return embeddings;
    }

    /** The key store (keys are created with the CLI; tests create them here). */
    public io.spillway.server.platform.keys.KeyStore keys() {
        return platform.keys();
    }

    /** Shuts down at once: requests in flight are ended (see {@link #shutdown}). */
    @Override
    public void close() {
        shutdown(java.time.Duration.ZERO);
    }

    /**
     * A graceful shutdown: stop taking requests (the readiness probe fails, new requests get 503),
     * let those in flight finish for up to {@code grace}, then end the rest (streams get their last
     * chunk and [DONE]), then flush and close the audit log, the vector index and the database.
     * Idempotent: a second call returns when the first is done.
     */
    public void shutdown(java.time.Duration grace) {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            int left = http.drain(grace);
            if (left > 0) {
                LOG.info("shutdown: ending {} requests still running after the {} s grace period", left, grace.toSeconds());
            }
            bedrock.ifPresent(BedrockGateway::close);
            engine.close();
            // The requests the engine just ended still have their last bytes to write.
            http.drain(java.time.Duration.ofSeconds(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            http.close();
            engine.close();
            try {
                collections.close();
            } catch (IOException e) {
                LOG.warn("collections: closing failed", e);
            }
            platform.close();
            embeddings.ifPresent(EmbeddingService::close);
            LOG.info("shutdown: complete");
        }
    }
}
