package io.spillway.server.config;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.spillway.models.arch.ProjectionLayout;
import io.spillway.models.arch.Quantization;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.server.engine.EngineConfig;
import io.spillway.server.generation.PiiOnSpill;
import java.time.Duration;
import java.util.List;

/**
 * Spillway's typed configuration, bound from {@code spillway-defaults.yaml} and its overrides by
 * {@link ConfigLoader}. Every default lives in that file, not here.
 */
@JsonIgnoreProperties(ignoreUnknown = false)
public record ServerConfig(Server server, Model model, Engine engine, Embeddings embeddings, Collections collections, Router router,
                           Bedrock bedrock, Database database, Keys keys, Cache cache, Safety safety, Audit audit, Hub hub) {

    public record Server(String host, int port, @JsonProperty("api-keys") List<String> apiKeys,
                         @JsonProperty("max-body-bytes") long maxBodyBytes,
                         @JsonProperty("request-read-timeout-seconds") double requestReadTimeoutSeconds,
                         @JsonProperty("idle-timeout-seconds") double idleTimeoutSeconds,
                         @JsonProperty("slow-reader-timeout-seconds") double slowReaderTimeoutSeconds,
                         @JsonProperty("socket-send-buffer-bytes") int socketSendBufferBytes,
                         @JsonProperty("shutdown-grace-seconds") double shutdownGraceSeconds) {
        public Server {
            apiKeys = apiKeys == null ? List.of() : List.copyOf(apiKeys);
            require(port >= 0 && port <= 65535, "server.port must be in [0, 65535]");
            require(maxBodyBytes > 0, "server.max-body-bytes must be positive");
            require(requestReadTimeoutSeconds > 0, "server.request-read-timeout-seconds must be positive");
            require(idleTimeoutSeconds > 0, "server.idle-timeout-seconds must be positive");
            require(slowReaderTimeoutSeconds > 0, "server.slow-reader-timeout-seconds must be positive");
            require(socketSendBufferBytes >= 0, "server.socket-send-buffer-bytes must not be negative");
            require(shutdownGraceSeconds >= 0, "server.shutdown-grace-seconds must not be negative");
        }
    }

    public record Model(String path, @JsonProperty("served-name") String servedName, @JsonProperty("load-format") String loadFormat,
                        String device, String dtype, @JsonProperty("max-model-len") int maxModelLength, long seed, String quantization,
                        @JsonProperty("chat-template") String chatTemplate,
                        @JsonProperty("tool-call-parser") String toolCallParser, String attention, String projections) {
        public Model {
            require(List.of("auto", "hermes", "llama3_json", "mistral").contains(toolCallParser),
                    "model.tool-call-parser must be auto, hermes, llama3_json or mistral");
            requireParses(quantization, Quantization::parse, "quantization must be none, int8 or lm-head=int8");
            requireParses(projections, ProjectionLayout::parse, "projections must be auto, linear, row-blocks or row-blocks+onednn");
            requireParses(attention, AttentionChoice::parse, "attention must be auto, gather, gather-native, blocks-matmul or blocks-sdpa");
        }

        /**
         * Fails with the parser's message, prefixed with "model.", unless {@code value} parses; with
         * {@code choices} when the parser gives none, or the key is unset (null).
         */
        private static void requireParses(String value, java.util.function.Function<String, ?> parse, String choices) {
            try {
                parse.apply(java.util.Objects.requireNonNull(value));
            } catch (NullPointerException e) {
                throw new ConfigException("model." + choices);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("model." + (e.getMessage() == null ? choices : e.getMessage()));
            }
        }

        /** The configured backend, or null for the target's ({@code auto}). */
        public AttentionChoice attentionChoice() {
            return AttentionChoice.parse(attention);
        }

        /** The configured projection layout, or null for the target's ({@code auto}). */
        public ProjectionLayout projectionLayout() {
            return ProjectionLayout.parse(projections);
        }

        public Quantization weightQuantization() {
            return Quantization.parse(quantization);
        }

        public boolean demo() {
            return path == null || path.isBlank();
        }
    }

    public record Engine(@JsonProperty("max-num-seqs") int maxNumSeqs, @JsonProperty("max-num-batched-tokens") int maxNumBatchedTokens,
                         @JsonProperty("max-prefill-chunk") int maxPrefillChunk, @JsonProperty("block-size") int blockSize,
                         @JsonProperty("kv-cache-bytes") long kvCacheBytes,
                         @JsonProperty("gpu-memory-utilization") double gpuMemoryUtilization,
                         @JsonProperty("prefix-caching") boolean prefixCaching,
                         @JsonProperty("max-waiting-requests") int maxWaitingRequests,
                         @JsonProperty("max-waiting-tokens") long maxWaitingTokens,
                         @JsonProperty("request-timeout-seconds") double requestTimeoutSeconds,
                         @JsonProperty("cpu-threads") int cpuThreads,
                         @JsonProperty("transient-budget-bytes") long transientBudgetBytes) {

        /** The engine's limits; token budgets of 0 resolve per device. */
        public EngineConfig toEngineConfig(boolean gpu) {
            int batched = maxNumBatchedTokens > 0 ? maxNumBatchedTokens : EngineConfig.defaults(gpu).maxNumBatchedTokens();
            int chunk = maxPrefillChunk > 0 ? maxPrefillChunk : batched;
            return new EngineConfig(maxNumSeqs, batched, chunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                    maxWaitingRequests, maxWaitingTokens, Duration.ofMillis((long) (requestTimeoutSeconds * 1000)), cpuThreads,
                    transientBudgetBytes);
        }
    }

    public record Embeddings(String model, @JsonProperty("served-name") String servedName, String pooling, String normalize,
                             @JsonProperty("max-length") int maxLength, String device,
                             @JsonProperty("max-batch-size") int maxBatchSize, @JsonProperty("max-batch-wait-ms") double maxBatchWaitMs,
                             @JsonProperty("max-queued-inputs") int maxQueuedInputs,
                             @JsonProperty("gpu-memory-bytes") long gpuMemoryBytes) {
        public Embeddings {
            require(model != null && !model.isBlank(), "embeddings.model must be builtin, none or a directory");
            require(pooling.equals("auto") || pooling.equals("mean") || pooling.equals("cls") || pooling.equals("max"),
                    "embeddings.pooling must be auto, mean, cls or max");
            require(normalize.equals("auto") || normalize.equals("true") || normalize.equals("false"),
                    "embeddings.normalize must be auto, true or false");
            require(maxLength >= 0, "embeddings.max-length must not be negative");
            require(maxBatchSize >= 1, "embeddings.max-batch-size must be at least 1");
            require(maxBatchWaitMs >= 0, "embeddings.max-batch-wait-ms must not be negative");
            require(maxQueuedInputs >= 1, "embeddings.max-queued-inputs must be at least 1");
            require(gpuMemoryBytes > 0, "embeddings.gpu-memory-bytes must be positive");
        }

        public boolean enabled() {
            return !model.equals("none");
        }
    }

    public record Collections(String store, @JsonProperty("data-dir") String dataDir, boolean fsync,
                              @JsonProperty("snapshot-after-log-bytes") long snapshotAfterLogBytes,
                              @JsonProperty("chunk-tokens") int chunkTokens,
                              @JsonProperty("chunk-overlap-tokens") int chunkOverlapTokens,
                              @JsonProperty("sync-interval-ms") long syncIntervalMs,
                              @JsonProperty("min-seq-wait-ms") long minSeqWaitMs,
                              @JsonProperty("log-retention-hours") double logRetentionHours) {
        public Collections {
            require(store.equals("embedded") || store.equals("database"), "collections.store must be embedded or database");
            require(syncIntervalMs >= 10, "collections.sync-interval-ms must be at least 10");
            require(minSeqWaitMs >= 0, "collections.min-seq-wait-ms must not be negative");
            require(logRetentionHours > 0, "collections.log-retention-hours must be positive");
            require(snapshotAfterLogBytes > 0, "collections.snapshot-after-log-bytes must be positive");
            require(chunkTokens >= 8, "collections.chunk-tokens must be at least 8");
            require(chunkOverlapTokens >= 0 && chunkOverlapTokens < chunkTokens / 2,
                    "collections.chunk-overlap-tokens must be in [0, chunk-tokens / 2)");
        }

        /** The data directory, resolved as documented in spillway-defaults.yaml. */
        public java.nio.file.Path resolvedDataDir() {
            if (dataDir != null && !dataDir.isBlank()) {
                return java.nio.file.Paths.get(dataDir);
            }
            return dataPath("collections");
        }
    }

    public record Router(@JsonProperty("ttft-target-ms") double ttftTargetMs, boolean spill, List<ModelRoute> models,
                         @JsonProperty("pii-on-spill") String piiOnSpill) {
        public Router {
            models = models == null ? List.of() : List.copyOf(models);
            require(ttftTargetMs > 0, "router.ttft-target-ms must be positive");
            require(piiOnSpill != null, "router.pii-on-spill must be local-only, pseudonymize, redact or allow");
            try {
                PiiOnSpill.parse(piiOnSpill);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("router.pii-on-spill: " + e.getMessage());
            }
        }

        public PiiOnSpill piiPolicy() {
            return PiiOnSpill.parse(piiOnSpill);
        }
    }

    /** One served model name: local, Bedrock, or both, with its prices per 1,000 tokens. */
    public record ModelRoute(String name, boolean local, @JsonProperty("bedrock-model-id") String bedrockModelId,
                             @JsonProperty("input-price-per-1k") double inputPricePer1k,
                             @JsonProperty("output-price-per-1k") double outputPricePer1k) {
        public ModelRoute {
            require(name != null && !name.isBlank(), "router.models: every entry needs a name");
            bedrockModelId = bedrockModelId == null ? "" : bedrockModelId;
            require(local || !bedrockModelId.isBlank(), "router.models: '" + name + "' is neither local nor on Bedrock");
            require(inputPricePer1k >= 0 && outputPricePer1k >= 0, "router.models: prices of '" + name + "' must not be negative");
        }

        public boolean onBedrock() {
            return !bedrockModelId.isBlank();
        }
    }

    public record Bedrock(String endpoint, String region, @JsonProperty("connect-timeout-ms") long connectTimeoutMs,
                          @JsonProperty("chunk-timeout-ms") long chunkTimeoutMs, @JsonProperty("call-timeout-ms") long callTimeoutMs,
                          @JsonProperty("max-attempts") int maxAttempts, @JsonProperty("retry-base-ms") long retryBaseMs,
                          @JsonProperty("retry-cap-ms") long retryCapMs, @JsonProperty("retry-deadline-ms") long retryDeadlineMs,
                          @JsonProperty("breaker-failures") int breakerFailures,
                          @JsonProperty("breaker-open-seconds") double breakerOpenSeconds) {
        public Bedrock {
            require(connectTimeoutMs > 0 && chunkTimeoutMs > 0 && callTimeoutMs > 0, "bedrock timeouts must be positive");
            require(maxAttempts >= 1, "bedrock.max-attempts must be at least 1");
            require(breakerFailures >= 1, "bedrock.breaker-failures must be at least 1");
        }
    }

    /** Where a default data file lives: $XDG_DATA_HOME/spillway/NAME, or ~/.local/share/spillway/NAME. */
    static java.nio.file.Path dataPath(String name) {
        String xdg = System.getenv("XDG_DATA_HOME");
        java.nio.file.Path base = xdg != null && !xdg.isBlank() ? java.nio.file.Paths.get(xdg)
                : java.nio.file.Paths.get(System.getProperty("user.home"), ".local", "share");
        return base.resolve("spillway").resolve(name);
    }

    public record Database(String url, String user, String password,
                           @JsonProperty("connection-timeout-ms") long connectionTimeoutMs) {
        public Database {
            require(connectionTimeoutMs >= 250, "database.connection-timeout-ms must be at least 250");
        }

        public boolean postgres() {
            return resolvedUrl().startsWith("jdbc:postgresql:");
        }

        public String resolvedUrl() {
            return url == null || url.isBlank() ? "jdbc:sqlite:" + dataPath("spillway.db") : url;
        }
    }

    public record Keys(@JsonProperty("limit-window-seconds") double limitWindowSeconds,
                       @JsonProperty("limit-scope") String limitScope) {
        public Keys {
            require(limitWindowSeconds > 0, "keys.limit-window-seconds must be positive");
            require(List.of("auto", "shared", "replica").contains(limitScope), "keys.limit-scope must be auto, shared or replica");
        }

        /** Whether rate-limit windows are counted in the database, across replicas. */
        public boolean sharedLimits(Database database) {
            if (limitScope.equals("shared") && !database.postgres()) {
                throw new ConfigException("keys.limit-scope shared needs database.url on PostgreSQL (replicas share the windows there)");
            }
            return limitScope.equals("shared") || (limitScope.equals("auto") && database.postgres());
        }
    }

    public record Cache(boolean enabled, @JsonProperty("max-bytes") long maxBytes, @JsonProperty("ttl-seconds") double ttlSeconds,
                        boolean dedup, @JsonProperty("semantic-enabled") boolean semanticEnabled,
                        @JsonProperty("semantic-threshold") double semanticThreshold,
                        @JsonProperty("semantic-max-entries") int semanticMaxEntries,
                        @JsonProperty("semantic-scope") String semanticScope) {
        public Cache {
            require(List.of("auto", "shared", "replica").contains(semanticScope), "cache.semantic-scope must be auto, shared or replica");
            require(maxBytes > 0, "cache.max-bytes must be positive");
            require(ttlSeconds > 0, "cache.ttl-seconds must be positive");
            require(semanticThreshold > 0 && semanticThreshold <= 1, "cache.semantic-threshold must be in (0, 1]");
            require(semanticMaxEntries > 0, "cache.semantic-max-entries must be positive");
        }

        /** Whether semantic cache entries are kept in the database, shared by replicas. */
        public boolean sharedSemantic(Database database) {
            if (semanticScope.equals("shared") && !database.postgres()) {
                throw new ConfigException("cache.semantic-scope shared needs database.url on PostgreSQL");
            }
            return semanticScope.equals("shared") || (semanticScope.equals("auto") && database.postgres());
        }
    }

    public record Safety(String pii, @JsonProperty("pii-types") List<String> piiTypes, List<String> blocklist,
                         @JsonProperty("blocklist-action") String blocklistAction, String classifier,
                         @JsonProperty("classifier-action") String classifierAction) {
        public Safety {
            piiTypes = piiTypes == null ? List.of() : List.copyOf(piiTypes);
            blocklist = blocklist == null ? List.of() : List.copyOf(blocklist);
            classifier = classifier == null ? "" : classifier;
            try {
                io.spillway.server.platform.safety.SafetyAction.parse(pii);
                io.spillway.server.platform.safety.SafetyAction.parse(blocklistAction);
                io.spillway.server.platform.safety.SafetyAction.parse(classifierAction);
                piiTypes.forEach(io.spillway.server.platform.safety.PiiType::parse);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("safety: " + e.getMessage());
            }
        }

        /** What the PII filter looks for, on the way in and before a request spills. */
        public java.util.Set<io.spillway.server.platform.safety.PiiType> detectedPii() {
            return piiTypes.stream().map(io.spillway.server.platform.safety.PiiType::parse).collect(java.util.stream.Collectors.toSet());
        }
    }

    public record Audit(boolean enabled, String dir, @JsonProperty("max-file-bytes") long maxFileBytes, boolean fsync,
                        @JsonProperty("log-prompts") boolean logPrompts) {
        public Audit {
            require(maxFileBytes >= 4096, "audit.max-file-bytes must be at least 4096");
        }

        public java.nio.file.Path resolvedDir() {
            return dir == null || dir.isBlank() ? dataPath("audit") : java.nio.file.Paths.get(dir);
        }
    }

    public record Hub(String endpoint, @JsonProperty("cache-dir") String cacheDir, String token, boolean offline) {

        public io.spillway.models.hub.HubSettings settings(java.util.Map<String, String> env) {
            return io.spillway.models.hub.HubSettings.resolve(endpoint, cacheDir, token, offline, env);
        }
    }

    static void require(boolean ok, String message) {
        if (!ok) {
            throw new ConfigException(message);
        }
    }
}
