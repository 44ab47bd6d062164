package io.spillway.models.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class KvCacheManagerTest {

    private static int[] tokens(int n, int start) {
        return IntStream.range(start, start + n).toArray();
    }

    @Test
    void allocationIsAllOrNothingAndNeverHandsOutTheNullBlock() {
        KvCacheManager kv = new KvCacheManager(5, 4, true);
        SequenceBlocks a = kv.newSequence("");
        assertTrue(kv.ensureCapacity(a, 10));
        assertEquals(3, a.size());
        assertFalse(kv.ensureCapacity(a, 30), "needs 5 more blocks, 1 free");
        assertEquals(3, a.size());
        for (int b : a.table()) {
            assertTrue(b > 0);
        }
        kv.free(a);
        assertEquals(0, kv.usedBlocks());
        assertEquals(4, kv.freeBlocks());
    }

    @Test
    void fullBlocksAreSharedByLaterSequencesWithTheSamePrefix() {
        KvCacheManager kv = new KvCacheManager(32, 4, true);
        int[] prompt = tokens(18, 100);
        SequenceBlocks first = kv.newSequence("");
        assertEquals(0, kv.attachCachedPrefix(first, prompt, prompt.length));
        kv.ensureCapacity(first, prompt.length);
        kv.commitFullBlocks(first, prompt, prompt.length);
        assertEquals(4, kv.cachedBlocks());

        SequenceBlocks second = kv.newSequence("");
        assertEquals(16, kv.attachCachedPrefix(second, prompt, prompt.length));
        assertArrayEquals(java.util.Arrays.copyOf(first.table(), 4), second.table());
        assertEquals(5, kv.usedBlocks(), "four shared blocks plus the first's partial one");

        // Whole-prompt hits still leave the last token to compute.
        int[] aligned = tokens(16, 100);
        SequenceBlocks third = kv.newSequence("");
        assertEquals(12, kv.attachCachedPrefix(third, aligned, aligned.length));

        SequenceBlocks otherTenant = kv.newSequence("tenant-b");
        assertEquals(0, kv.attachCachedPrefix(otherTenant, prompt, prompt.length), "a salt separates caches");
    }

    @Test
    void freedCachedBlocksStayFindableUntilEvictedLeastRecentlyUsedFirst() {
        KvCacheManager kv = new KvCacheManager(9, 4, true);
        int[] a = tokens(9, 0);
        int[] b = tokens(9, 1000);
        SequenceBlocks sa = kv.newSequence("");
        kv.ensureCapacity(sa, 9);
        kv.commitFullBlocks(sa, a, 9);
        kv.free(sa);
        SequenceBlocks sb = kv.newSequence("");
        kv.ensureCapacity(sb, 9);
        kv.commitFullBlocks(sb, b, 9);
        kv.free(sb);
        assertEquals(0, kv.usedBlocks());
        assertEquals(4, kv.cachedBlocks());

        SequenceBlocks again = kv.newSequence("");
        assertEquals(8, kv.attachCachedPrefix(again, a, 9), "a's blocks survived b's allocation");
        // Filling the cache evicts the least recently freed blocks first: b's, not the held a's.
        SequenceBlocks big = kv.newSequence("");
        assertTrue(kv.ensureCapacity(big, 6 * 4));
        assertFalse(kv.ensureCapacity(big, 7 * 4));
        SequenceBlocks probe = kv.newSequence("");
        assertEquals(0, kv.attachCachedPrefix(probe, b, 9));
        kv.free(again);
        kv.free(big);
        assertEquals(0, kv.usedBlocks());
    }

    @Test
    void forkSharesFullBlocksOnly() {
        KvCacheManager kv = new KvCacheManager(16, 4, true);
        int[] prompt = tokens(10, 5);
        SequenceBlocks parent = kv.newSequence("");
        kv.ensureCapacity(parent, 10);
        kv.commitFullBlocks(parent, prompt, 10);
        SequenceBlocks child = kv.fork(parent, 10);
        assertEquals(2, child.size());
        assertEquals(3, kv.usedBlocks());
        kv.free(parent);
        assertEquals(2, kv.usedBlocks(), "the child still holds the shared blocks");
        kv.free(child);
        assertEquals(0, kv.usedBlocks());
    }
}
