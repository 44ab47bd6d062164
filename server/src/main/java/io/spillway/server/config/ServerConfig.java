package io.spillway.server.config;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.spillway.server.engine.EngineConfig;
import java.time.Duration;
import java.util.List;

/**
 * Spillway's typed configuration, bound from {@code spillway-defaults.yaml} and its overrides by
 * {@link ConfigLoader}. Every default lives in that file, not here.
 */
@JsonIgnoreProperties(ignoreUnknown = false)
public record ServerConfig(Server server, Model model, Engine engine) {

    public record Server(String host, int port, @JsonProperty("api-keys") List<String> apiKeys,
                         @JsonProperty("max-body-bytes") long maxBodyBytes,
                         @JsonProperty("request-read-timeout-seconds") double requestReadTimeoutSeconds,
                         @JsonProperty("idle-timeout-seconds") double idleTimeoutSeconds,
                         @JsonProperty("slow-reader-timeout-seconds") double slowReaderTimeoutSeconds) {
        public Server {
            apiKeys = apiKeys == null ? List.of() : List.copyOf(apiKeys);
            require(port >= 0 && port <= 65535, "server.port must be in [0, 65535]");
            require(maxBodyBytes > 0, "server.max-body-bytes must be positive");
            require(requestReadTimeoutSeconds > 0, "server.request-read-timeout-seconds must be positive");
            require(idleTimeoutSeconds > 0, "server.idle-timeout-seconds must be positive");
            require(slowReaderTimeoutSeconds > 0, "server.slow-reader-timeout-seconds must be positive");
        }
    }

    public record Model(String path, @JsonProperty("served-name") String servedName, @JsonProperty("load-format") String loadFormat,
                        String device, String dtype, @JsonProperty("max-model-len") int maxModelLength, long seed,
                        @JsonProperty("chat-template") String chatTemplate) {
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
                         @JsonProperty("request-timeout-seconds") double requestTimeoutSeconds) {

        /** The engine's limits; token budgets of 0 resolve per device. */
        public EngineConfig toEngineConfig(boolean gpu) {
            int batched = maxNumBatchedTokens > 0 ? maxNumBatchedTokens : EngineConfig.defaults(gpu).maxNumBatchedTokens();
            int chunk = maxPrefillChunk > 0 ? maxPrefillChunk : batched;
            return new EngineConfig(maxNumSeqs, batched, chunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                    maxWaitingRequests, maxWaitingTokens, Duration.ofMillis((long) (requestTimeoutSeconds * 1000)));
        }
    }

    static void require(boolean ok, String message) {
        if (!ok) {
            throw new ConfigException(message);
        }
    }
}
