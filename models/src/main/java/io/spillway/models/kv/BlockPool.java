package io.spillway.models.kv;

import java.util.ArrayDeque;

/**
 * Hands out KV cache blocks and takes them back. Blocks are reference counted so several
 * sequences can share one (n &gt; 1 samples of a prompt, prefix-cache hits); a block returns to the
 * free list when its last holder releases it. Block 0 is the null block and is never handed out.
 *
 * <p>Not thread-safe: the engine thread owns it.
 */
public final class BlockPool {

    private final int numBlocks;
    private final int[] refCounts;
    private final ArrayDeque<Integer> freeList = new ArrayDeque<>();

    public BlockPool(int numBlocks) {
        if (numBlocks < 2) {
            throw new IllegalArgumentException("need at least 2 blocks, got " + numBlocks);
        }
        this.numBlocks = numBlocks;
        this.refCounts = new int[numBlocks];
        for (int b = 1; b < numBlocks; b++) {
            freeList.addLast(b);
        }
    }

    public int numBlocks() {
        return numBlocks;
    }

    public int freeCount() {
        return freeList.size();
    }

    /** Blocks held by at least one sequence. */
    public int usedCount() {
        return numBlocks - 1 - freeList.size();
    }

    public boolean canAllocate(int blocks) {
        return freeList.size() >= blocks;
    }

    /** One free block with a reference count of one. */
    public int allocate() {
        Integer block = freeList.pollFirst();
        if (block == null) {
            throw new IllegalStateException("KV cache is out of blocks (" + (numBlocks - 1) + " usable)");
        }
        refCounts[block] = 1;
        return block;
    }

    /** Another holder of an allocated block. */
    public void retain(int block) {
        checkHeld(block);
        refCounts[block]++;
    }

    /** Drops one reference; the block is free again when none remain. */
    public void release(int block) {
        checkHeld(block);
        if (--refCounts[block] == 0) {
            freeList.addLast(block);
        }
    }

    public int refCount(int block) {
        return refCounts[block];
    }

    private void checkHeld(int block) {
        if (block <= 0 || block >= numBlocks || refCounts[block] <= 0) {
            throw new IllegalStateException("block " + block + " is not allocated");
        }
    }
}
