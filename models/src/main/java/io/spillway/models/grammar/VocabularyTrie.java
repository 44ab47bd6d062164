package io.spillway.models.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The text tokens of a vocabulary as a trie of their bytes, laid out in preorder so that a walk
 * is a scan that skips a rejected prefix's whole subtree at once: tokens sharing a prefix share
 * the work of matching it.
 */
final class VocabularyTrie {

    final byte[] nodeByte;
    final int[] depth;
    /** Index just past the node's subtree. */
    final int[] subtreeEnd;
    /** Tokens ending at node i are tokens[tokenStart[i] .. tokenStart[i + 1]). */
    final int[] tokenStart;
    final int[] tokens;
    final int maxDepth;

    private VocabularyTrie(byte[] nodeByte, int[] depth, int[] subtreeEnd, int[] tokenStart, int[] tokens, int maxDepth) {
        this.nodeByte = nodeByte;
        this.depth = depth;
        this.subtreeEnd = subtreeEnd;
        this.tokenStart = tokenStart;
        this.tokens = tokens;
        this.maxDepth = maxDepth;
    }

    int size() {
        return nodeByte.length;
    }

    static VocabularyTrie of(Vocabulary v) {
        List<Integer> ids = new ArrayList<>();
        for (int id = 0; id < v.size(); id++) {
            if (v.isText(id)) {
                ids.add(id);
            }
        }
        ids.sort(Comparator.<Integer, byte[]>comparing(v::rawBytes, Arrays::compareUnsigned).thenComparing(i -> i));
        int capacity = 0;
        for (int id : ids) {
            capacity += v.rawBytes(id).length;
        }
        byte[] nodeByte = new byte[capacity];
        int[] depth = new int[capacity];
        int[] end = new int[capacity];
        int[] tokenNode = new int[ids.size()];
        int maxDepth = 0;
        for (int id : ids) {
            maxDepth = Math.max(maxDepth, v.rawBytes(id).length);
        }
        int[] open = new int[maxDepth + 1];
        int count = 0;
        byte[] prev = new byte[0];
        for (int k = 0; k < ids.size(); k++) {
            byte[] b = v.rawBytes(ids.get(k));
            int common = 0;
            while (common < prev.length && common < b.length && prev[common] == b[common]) {
                common++;
            }
            for (int d = prev.length; d > common; d--) {
                end[open[d]] = count;
            }
            for (int d = common + 1; d <= b.length; d++) {
                nodeByte[count] = b[d - 1];
                depth[count] = d;
                open[d] = count++;
            }
            tokenNode[k] = open[b.length];
            prev = b;
        }
        for (int d = prev.length; d >= 1; d--) {
            end[open[d]] = count;
        }
        int[] tokenStart = new int[count + 1];
        for (int node : tokenNode) {
            tokenStart[node + 1]++;
        }
        for (int i = 0; i < count; i++) {
            tokenStart[i + 1] += tokenStart[i];
        }
        int[] fill = Arrays.copyOf(tokenStart, count);
        int[] tokens = new int[ids.size()];
        for (int k = 0; k < ids.size(); k++) {
            tokens[fill[tokenNode[k]]++] = ids.get(k);
        }
        return new VocabularyTrie(Arrays.copyOf(nodeByte, count), Arrays.copyOf(depth, count), Arrays.copyOf(end, count),
                tokenStart, tokens, maxDepth);
    }
}
