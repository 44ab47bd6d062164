package io.spillway.server.engine;

import java.time.Duration;

/**
 * Limits of the continuous-batching engine. Defaults are in {@link #defaults(boolean)}; the serve
 * command's configuration overrides them.
 *
 * @param maxNumSeqs           sequences running at once (the batch size ceiling)
 * @param maxNumBatchedTokens  tokens one forward pass may process (decodes count one each)
 * @param maxPrefillChunk      prompt tokens of one sequence per step: longer prompts are prefilled
 *                             in chunks, so decodes keep flowing beside them
 * @param blockSize            tokens per KV block
 * @param kvCacheBytes         KV cache size on the CPU (ignored on a GPU)
 * @param gpuMemoryUtilization fraction of GPU memory weights, activations and KV cache may use
 * @param prefixCaching        share KV blocks of identical prompt prefixes
 * @param maxWaitingRequests   admission control: requests allowed to queue
 * @param maxWaitingTokens     admission control: prompt tokens allowed to queue
 * @param requestTimeout       a request still running after this is ended (zero: no limit)
 * @param cpuThreads           threads of the forward pass on a CPU (0: libtorch's setting, all cores by
 *                             default); fewer leaves cores to the HTTP side and the embedding model
 * @param transientBudgetBytes attention's transient bytes one forward pass may need ({@link StepTransient}):
 *                             the scheduler keeps each batch under it (a sequence over it alone runs
 *                             alone)
 * @param reservedDeviceBytes  device memory the KV cache leaves to others in the process on a GPU:
 *                             the embedding model's arena cap when it runs on the same device
 */
public record EngineConfig(int maxNumSeqs, int maxNumBatchedTokens, int maxPrefillChunk, int blockSize, long kvCacheBytes,
                           double gpuMemoryUtilization, boolean prefixCaching, int maxWaitingRequests, long maxWaitingTokens,
                           Duration requestTimeout, int cpuThreads, long transientBudgetBytes, long reservedDeviceBytes) {

    /** The transient budget of {@link #defaults}: see spillway-defaults.yaml for why this much. */
    public static final long DEFAULT_TRANSIENT_BUDGET_BYTES = 1L << 30;

    /** With all cores for the forward pass on a CPU and the default transient budget. */
    public EngineConfig(int maxNumSeqs, int maxNumBatchedTokens, int maxPrefillChunk, int blockSize, long kvCacheBytes,
                        double gpuMemoryUtilization, boolean prefixCaching, int maxWaitingRequests, long maxWaitingTokens,
                        Duration requestTimeout) {
        this(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, 0, DEFAULT_TRANSIENT_BUDGET_BYTES);
    }

    /** Nothing reserved on the device for others. */
    public EngineConfig(int maxNumSeqs, int maxNumBatchedTokens, int maxPrefillChunk, int blockSize, long kvCacheBytes,
                        double gpuMemoryUtilization, boolean prefixCaching, int maxWaitingRequests, long maxWaitingTokens,
                        Duration requestTimeout, int cpuThreads, long transientBudgetBytes) {
        this(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, transientBudgetBytes, 0);
    }

    public EngineConfig {
        require(maxNumSeqs >= 1, "max-num-seqs must be at least 1");
        require(maxNumBatchedTokens >= 1, "max-num-batched-tokens must be at least 1");
        require(maxPrefillChunk >= 1, "max-prefill-chunk must be at least 1");
        require(blockSize >= 1 && blockSize <= 256, "block-size must be in [1, 256]");
        require(kvCacheBytes > 0, "kv-cache-bytes must be positive");
        require(gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1, "gpu-memory-utilization must be in (0, 1]");
        require(maxWaitingRequests >= 0, "max-waiting-requests must be >= 0");
        require(maxWaitingTokens >= 0, "max-waiting-tokens must be >= 0");
        require(!requestTimeout.isNegative(), "request-timeout must not be negative");
        require(cpuThreads >= 0, "cpu-threads must not be negative");
        require(transientBudgetBytes > 0, "transient-budget-bytes must be positive");
        require(reservedDeviceBytes >= 0, "reserved device bytes must not be negative");
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /**
     * vLLM's defaults, except the token budget on a CPU: a 2048-token forward pass of even a small
     * model takes seconds there, and every running decode would wait for it.
     */
    public static EngineConfig defaults(boolean gpu) {
        int batched = gpu ? 2048 : 256;
        return new EngineConfig(256, batched, batched, 16, 2L << 30, 0.9, true, 1024, 262_144, Duration.ZERO);
    }

    public EngineConfig withMaxNumSeqs(int v) {
        return new EngineConfig(v, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, transientBudgetBytes, reservedDeviceBytes);
    }

    public EngineConfig withMaxNumBatchedTokens(int v) {
        return new EngineConfig(maxNumSeqs, v, Math.min(maxPrefillChunk, v), blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, transientBudgetBytes, reservedDeviceBytes);
    }

    public EngineConfig withMaxPrefillChunk(int v) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, v, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, transientBudgetBytes, reservedDeviceBytes);
    }

    public EngineConfig withKvCacheBytes(long v) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, v, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, transientBudgetBytes, reservedDeviceBytes);
    }

    public EngineConfig withAdmission(int requests, long tokens) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                requests, tokens, requestTimeout, cpuThreads, transientBudgetBytes, reservedDeviceBytes);
    }

    public EngineConfig withRequestTimeout(Duration v) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, v, cpuThreads, transientBudgetBytes, reservedDeviceBytes);
    }

    public EngineConfig withTransientBudgetBytes(long v) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, v, reservedDeviceBytes);
    }

    public EngineConfig withReservedDeviceBytes(long v) {
        return new EngineConfig(maxNumSeqs, maxNumBatchedTokens, maxPrefillChunk, blockSize, kvCacheBytes, gpuMemoryUtilization, prefixCaching,
                maxWaitingRequests, maxWaitingTokens, requestTimeout, cpuThreads, transientBudgetBytes, v);
    }
}
