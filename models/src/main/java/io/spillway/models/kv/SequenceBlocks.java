package io.spillway.models.kv;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The KV blocks one sequence holds, in order, and the hashes of those already full and shared
 * through the prefix cache. Created and changed only by {@link KvCacheManager}.
 */
public final class SequenceBlocks {

    private final BlockHash root;
    private int[] blocks = new int[8];
    private int count;
    private final List<BlockHash> hashes = new ArrayList<>();

    SequenceBlocks(BlockHash root) {
        this.root = root;
    }

    BlockHash root() {
        return root;
    }

    void add(int block) {
        if (count == blocks.length) {
            blocks = Arrays.copyOf(blocks, count * 2);
        }
        blocks[count++] = block;
    }

    int get(int i) {
        return blocks[i];
    }

    void clear() {
        count = 0;
        hashes.clear();
    }

    List<BlockHash> hashes() {
        return hashes;
    }

    /** Blocks held. */
    public int size() {
        return count;
    }

    /** Full blocks registered in the prefix cache. */
    public int hashedBlocks() {
        return hashes.size();
    }

    /** A copy of the block table, as the forward pass takes it. */
    public int[] table() {
        return Arrays.copyOf(blocks, count);
    }
}
