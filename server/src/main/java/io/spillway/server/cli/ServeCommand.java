package io.spillway.server.cli;

import io.spillway.server.SpillwayServer;
import io.spillway.server.config.ConfigLoader;
import io.spillway.server.config.ServerConfig;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spillway serve}: the OpenAI-compatible server. Configuration comes from the built-in
 * defaults, then {@code --config}, then SPILLWAY_* environment variables, then these flags.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Serve a model over the OpenAI API.")
public final class ServeCommand implements Callable<Integer> {

    @Option(names = "--config", description = "A YAML configuration file (see spillway-defaults.yaml for every key).")
    Path configFile;

    @Option(names = "--model", description = "A Hugging Face model directory. Without it, the built-in demo model is served.")
    String model;

    @Option(names = "--served-model-name", description = "The id clients send as \"model\" (default: the directory's name).")
    String servedName;

    @Option(names = "--load-format", description = "auto or dummy (random weights from the directory's config.json).")
    String loadFormat;

    @Option(names = "--quantization", description = "none or int8 (CPU, float32; int8,lm-head=float and int8,embeddings=int8 too), "
            + "or lm-head=int8 for an int4 checkpoint (CPU, float32 too): weights quantized on load.")
    String quantization;

    @Option(names = "--attention", description = "auto, gather, gather-native, blocks-matmul or blocks-sdpa: how the engine reads the KV cache.")
    String attention;

    @Option(names = "--projections", description = "auto, linear, row-blocks or row-blocks+onednn: how projection weights are laid out.")
    String projections;

    @Option(names = "--device", description = "auto, cpu, cuda, cuda:N.")
    String device;

    @Option(names = "--dtype", description = "auto, float32, float16 or bfloat16 (auto: bfloat16 on GPUs of compute capability 8.0+, float16 on older ones, float32 on the CPU).")
    String dtype;

    @Option(names = "--max-model-len", description = "Longest context served.")
    Integer maxModelLength;

    @Option(names = "--chat-template", description = "A chat template file replacing the model's own.")
    String chatTemplate;

    @Option(names = "--embedding-model", description = "builtin (all-MiniLM-L6-v2, the default), none, or a sentence-transformers ONNX export directory.")
    private String embeddingModel;

    @Option(names = "--collections-dir", description = "Where retrieval collections are stored.")
    private String collectionsDir;

    @Option(names = "--host", description = "Address to listen on.")
    String host;

    @Option(names = "--port", description = "Port to listen on.")
    Integer port;

    @Option(names = "--api-key", description = "An accepted API key (repeatable). Without any, the API is open.")
    List<String> apiKeys;

    @Option(names = "--max-num-seqs", description = "Sequences running at once.")
    Integer maxNumSeqs;

    @Option(names = "--max-num-batched-tokens", description = "Tokens per forward pass.")
    Integer maxNumBatchedTokens;

    @Option(names = "--kv-cache-bytes", description = "KV cache size on the CPU.")
    Long kvCacheBytes;

    @Option(names = "--gpu-memory-utilization", description = "Fraction of GPU memory to use.")
    Double gpuMemoryUtilization;

    @Option(names = "--print-config", description = "Print the effective configuration and exit.")
    boolean printConfig;

    @Override
    public Integer call() throws Exception {
        ConfigLoader loader = ConfigLoader.defaults();
        if (configFile != null) {
            loader.file(configFile);
        }
        loader.environment(System.getenv());
        set(loader, "model.path", "--model", model);
        set(loader, "model.served-name", "--served-model-name", servedName);
        set(loader, "model.load-format", "--load-format", loadFormat);
        set(loader, "model.device", "--device", device);
        set(loader, "model.quantization", "--quantization", quantization);
        set(loader, "model.attention", "--attention", attention);
        set(loader, "model.projections", "--projections", projections);
        set(loader, "model.dtype", "--dtype", dtype);
        set(loader, "model.max-model-len", "--max-model-len", maxModelLength);
        set(loader, "model.chat-template", "--chat-template", chatTemplate);
        set(loader, "embeddings.model", "--embedding-model", embeddingModel);
        set(loader, "collections.data-dir", "--collections-dir", collectionsDir);
        set(loader, "server.host", "--host", host);
        set(loader, "server.port", "--port", port);
        set(loader, "server.api-keys", "--api-key", apiKeys == null ? null : String.join(",", apiKeys));
        set(loader, "engine.max-num-seqs", "--max-num-seqs", maxNumSeqs);
        set(loader, "engine.max-num-batched-tokens", "--max-num-batched-tokens", maxNumBatchedTokens);
        set(loader, "engine.kv-cache-bytes", "--kv-cache-bytes", kvCacheBytes);
        set(loader, "engine.gpu-memory-utilization", "--gpu-memory-utilization", gpuMemoryUtilization);
        ServerConfig config = loader.build();
        if (printConfig) {
            System.out.print(loader.toYaml());
            return 0;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        SpillwayServer server = SpillwayServer.start(config, Clock.systemDefaultZone());
        java.time.Duration grace = java.time.Duration.ofMillis((long) (config.server().shutdownGraceSeconds() * 1000));
        Runnable shutdown = () -> {
            server.shutdown(grace);
            stopped.countDown();
        };
        // SIGTERM (Kubernetes, docker stop) and SIGINT (Ctrl-C) drain gracefully and exit 0: the
        // JVM's own handling would exit 143 and let shutdown hooks race the in-flight requests.
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), signal -> Thread.ofPlatform().name("spillway-shutdown").start(() -> {
                    org.slf4j.LoggerFactory.getLogger(ServeCommand.class).info("shutdown: SIG{} received, draining for up to {} s",
                            name, grace.toSeconds());
                    shutdown.run();
                    System.exit(0);
                }));
            } catch (IllegalArgumentException e) {
                // A platform without this signal: the shutdown hook below still closes cleanly.
            }
        }
        Runtime.getRuntime().addShutdownHook(new Thread(shutdown, "spillway-shutdown-hook"));
        stopped.await();
        return 0;
    }

    private static void set(ConfigLoader loader, String key, String flag, Object value) {
        if (value != null) {
            loader.set(key, value.toString(), flag);
        }
    }
}
