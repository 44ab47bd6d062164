package io.spillway.models.kv;

import ai.djl.ndarray.types.DataType;
import io.spillway.models.checkpoint.ModelConfig;

/**
 * The geometry of a paged KV cache: how many fixed-size blocks, and the per-token shape every
 * layer stores. Block 0 is reserved as the null block: always zero, never handed out, it is what
 * padded gather positions read, so padding can never pull NaN or stale values into attention.
 *
 * @param numBlocks  blocks per layer, including the null block
 * @param blockSize  tokens per block
 * @param numLayers  decoder layers
 * @param numKvHeads key/value heads
 * @param headDim    width of one head
 * @param dtype      storage dtype (the model's dtype)
 */
public record KvCacheSpec(int numBlocks, int blockSize, int numLayers, int numKvHeads, int headDim, DataType dtype) {

    public static final int DEFAULT_BLOCK_SIZE = 16;
    public static final int NULL_BLOCK = 0;

    public KvCacheSpec {
        if (numBlocks < 2) {
            throw new IllegalArgumentException("a KV cache needs at least 2 blocks (one is the null block), got " + numBlocks);
        }
        if (blockSize <= 0) {
            throw new IllegalArgumentException("block size must be positive, got " + blockSize);
        }
    }

    /** Bytes one block takes across all layers (keys and values). */
    public static long bytesPerBlock(ModelConfig config, int blockSize, DataType dtype) {
        return 2L * config.numLayers() * blockSize * config.kvSize() * dtype.getNumOfBytes();
    }

    /** The largest cache that fits in {@code budgetBytes}. */
    public static KvCacheSpec forBudget(ModelConfig config, int blockSize, DataType dtype, long budgetBytes) {
        long blocks = budgetBytes / bytesPerBlock(config, blockSize, dtype);
        if (blocks < 2) {
            throw new IllegalArgumentException("KV cache budget of " + budgetBytes + " bytes holds " + blocks
                    + " blocks of " + blockSize + " tokens; at least 2 are needed ("
                    + bytesPerBlock(config, blockSize, dtype) + " bytes per block)");
        }
        return new KvCacheSpec((int) Math.min(blocks, Integer.MAX_VALUE / blockSize), blockSize,
                config.numLayers(), config.numKvHeads(), config.headDim(), dtype);
    }

    /** A cache of exactly {@code numBlocks} blocks. */
    public static KvCacheSpec ofBlocks(ModelConfig config, int blockSize, DataType dtype, int numBlocks) {
        return new KvCacheSpec(numBlocks, blockSize, config.numLayers(), config.numKvHeads(), config.headDim(), dtype);
    }

    /** Blocks that can hold tokens (all but the null block). */
    public int usableBlocks() {
        return numBlocks - 1;
    }

    public long slots() {
        return (long) numBlocks * blockSize;
    }

    public long totalBytes() {
        return slots() * 2L * numLayers * numKvHeads * headDim * dtype.getNumOfBytes();
    }
}
