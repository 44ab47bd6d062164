package io.spillway.models.kv;

import java.util.HashMap;
import java.util.Map;

/**
 * Allocates KV blocks to sequences and shares identical prefixes between them.
 *
 * <p>A full block is keyed by {@link BlockHash} (its parent's hash and its tokens) and may be held
 * by several sequences at once, reference counted. A block nobody holds joins the free list but
 * keeps its contents and its place in the cache, so a later request with the same prefix picks it
 * up without recomputing it; allocation takes free blocks least recently freed first, evicting
 * their cache entries. Sequences release their blocks last-first, so the ends of prompts (the
 * least likely to be shared) are evicted before their beginnings.
 *
 * <p>Not thread-safe: the engine thread owns it.
 */
public final class KvCacheManager {

    private static final class Block {
        final int id;
        int refs;
        BlockHash hash;
        Block prev;
        Block next;

        Block(int id) {
            this.id = id;
        }
    }

    private final int blockSize;
    private final boolean prefixCaching;
    private final Block[] blocks;
    private final Map<BlockHash, Block> cached = new HashMap<>();
    /** Sentinel of the free list: head.next is evicted first, new frees go before the sentinel. */
    private final Block free = new Block(-1);
    private int freeCount;
    private long queriedTokens;
    private long hitTokens;

    /**
     * @param numBlocks blocks in the cache, including the null block 0, which is never handed out
     */
    public KvCacheManager(int numBlocks, int blockSize, boolean prefixCaching) {
        if (numBlocks < 2) {
            throw new IllegalArgumentException("need at least 2 blocks, got " + numBlocks);
        }
        this.blockSize = blockSize;
        this.prefixCaching = prefixCaching;
        this.blocks = new Block[numBlocks];
        free.prev = free;
        free.next = free;
        for (int i = 1; i < numBlocks; i++) {
            blocks[i] = new Block(i);
            append(blocks[i]);
        }
    }

    public int blockSize() {
        return blockSize;
    }

    public boolean prefixCaching() {
        return prefixCaching;
    }

    /** A new, empty sequence; {@code salt} separates tenants' prefix caches ("" shares with all). */
    public SequenceBlocks newSequence(String salt) {
        return new SequenceBlocks(BlockHash.root(salt == null ? "" : salt));
    }

    /**
     * Attaches the longest cached prefix of {@code tokens[0, length)} to an empty sequence and returns
     * how many tokens it covers (whole blocks). At least one token is always left to compute, since
     * the last one's logits are needed.
     */
    public int attachCachedPrefix(SequenceBlocks seq, int[] tokens, int length) {
        if (seq.size() != 0) {
            throw new IllegalStateException("a cached prefix attaches only to an empty sequence");
        }
        if (!prefixCaching) {
            return 0;
        }
        int fullBlocks = (length - 1) / blockSize;
        BlockHash parent = seq.root();
        int hit = 0;
        for (int b = 0; b < fullBlocks; b++) {
            BlockHash h = BlockHash.of(parent, tokens, b * blockSize, blockSize);
            Block block = cached.get(h);
            if (block == null) {
                break;
            }
            retain(block);
            seq.add(block.id);
            seq.hashes().add(h);
            parent = h;
            hit++;
        }
        queriedTokens += length;
        hitTokens += (long) hit * blockSize;
        return hit * blockSize;
    }

    /** Blocks that {@link #ensureCapacity} would need to take from the free list. */
    public int blocksNeeded(SequenceBlocks seq, int tokens) {
        return Math.max(0, (tokens + blockSize - 1) / blockSize - seq.size());
    }

    /**
     * Grows the sequence's table to cover {@code tokens} tokens. All or nothing: false (and no
     * change) when there are not enough free blocks.
     */
    public boolean ensureCapacity(SequenceBlocks seq, int tokens) {
        int needed = blocksNeeded(seq, tokens);
        if (needed > freeCount) {
            return false;
        }
        for (int i = 0; i < needed; i++) {
            Block b = free.next;
            unlink(b);
            if (b.hash != null) {
                cached.remove(b.hash, b);
                b.hash = null;
            }
            b.refs = 1;
            seq.add(b.id);
        }
        return true;
    }

    /**
     * Registers the sequence's blocks that became full now that {@code computed} of its tokens are
     * in the cache, so later sequences can share them.
     */
    public void commitFullBlocks(SequenceBlocks seq, int[] tokens, int computed) {
        if (!prefixCaching) {
            return;
        }
        int full = Math.min(computed / blockSize, seq.size());
        for (int b = seq.hashedBlocks(); b < full; b++) {
            BlockHash parent = b == 0 ? seq.root() : seq.hashes().get(b - 1);
            BlockHash h = BlockHash.of(parent, tokens, b * blockSize, blockSize);
            seq.hashes().add(h);
            Block block = blocks[seq.get(b)];
            if (block.hash == null && !cached.containsKey(h)) {
                block.hash = h;
                cached.put(h, block);
            }
        }
    }

    /**
     * A sequence that shares the first {@code tokens / blockSize} full blocks of {@code parent} (n &gt; 1
     * samples of one prompt). The parent's partial last block is not shared: the child recomputes
     * those few tokens into its own block.
     */
    public SequenceBlocks fork(SequenceBlocks parent, int tokens) {
        SequenceBlocks child = new SequenceBlocks(parent.root());
        int share = Math.min(tokens / blockSize, parent.size());
        for (int b = 0; b < share; b++) {
            Block block = blocks[parent.get(b)];
            retain(block);
            child.add(block.id);
            if (b < parent.hashedBlocks()) {
                child.hashes().add(parent.hashes().get(b));
            }
        }
        return child;
    }

    /** Releases every block of the sequence, last first, and leaves it empty. */
    public void free(SequenceBlocks seq) {
        for (int i = seq.size() - 1; i >= 0; i--) {
            Block b = blocks[seq.get(i)];
            if (--b.refs == 0) {
                if (!prefixCaching && b.hash != null) {
                    cached.remove(b.hash, b);
                    b.hash = null;
                }
                append(b);
            } else if (b.refs < 0) {
                throw new IllegalStateException("block " + b.id + " released twice");
            }
        }
        seq.clear();
    }

    private void retain(Block b) {
        if (b.refs++ == 0) {
            unlink(b);
        }
    }

    private void append(Block b) {
        b.prev = free.prev;
        b.next = free;
        free.prev.next = b;
        free.prev = b;
        freeCount++;
    }

    private void unlink(Block b) {
        b.prev.next = b.next;
        b.next.prev = b.prev;
        b.prev = null;
        b.next = null;
        freeCount--;
    }

    /** Blocks that can be allocated (unused or holding evictable cached contents). */
    public int freeBlocks() {
        return freeCount;
    }

    /** Blocks held by at least one sequence. */
    public int usedBlocks() {
        return blocks.length - 1 - freeCount;
    }

    public int totalBlocks() {
        return blocks.length - 1;
    }

    /** Full blocks whose contents can be found by hash (held or evictable). */
    public int cachedBlocks() {
        return cached.size();
    }

    public long queriedTokens() {
        return queriedTokens;
    }

    public long hitTokens() {
        return hitTokens;
    }
}
