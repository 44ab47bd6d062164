package io.spillway.server.engine;

/**
 * A snapshot of the engine, safe to read from any thread.
 *
 * @param running               sequences in the running batch
 * @param waiting               sequences queued
 * @param waitingPromptTokens   prompt tokens queued
 * @param kvBlocksUsed          KV blocks held by sequences
 * @param kvBlocksFree          KV blocks free (including evictable cached ones)
 * @param kvBlocksTotal         KV blocks in the cache (excluding the null block)
 * @param prefixQueryTokens     prompt tokens looked up in the prefix cache
 * @param prefixHitTokens       of those, tokens found
 * @param preemptions           sequences preempted so far
 * @param promptTokens          prompt tokens computed so far
 * @param generatedTokens       tokens generated so far
 * @param steps                 forward passes so far
 * @param generationTokensPerSecond recent output rate (exponentially weighted)
 * @param estimatedQueueWaitSeconds wait a new request would see before its prefill starts
 */
public record EngineStats(int running, int waiting, long waitingPromptTokens, int kvBlocksUsed, int kvBlocksFree, int kvBlocksTotal,
                          long prefixQueryTokens, long prefixHitTokens, long preemptions, long promptTokens, long generatedTokens,
                          long steps, double generationTokensPerSecond, double estimatedQueueWaitSeconds) {
}
