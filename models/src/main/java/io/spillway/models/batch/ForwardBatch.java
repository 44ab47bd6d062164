package io.spillway.models.batch;

import java.util.ArrayList;
import java.util.List;

/**
 * The tokens of one forward pass, flattened: every sequence's chunk laid end to end in one
 * {@code [tokens, hidden]} activation, as vLLM does, so projections and MLPs run once for the
 * whole batch whatever mix of prefills and decodes it holds.
 *
 * <p>Layout: decodes (one token) come first, then multi-token chunks, each sequence's rows
 * contiguous. Attention treats the two kinds as separate groups so that one long prefill does not
 * pad every decode to its length. Logits come back in the order sequences were given.
 */
public final class ForwardBatch {

    /**
     * Sequences that attend together, padded to the longest query and context among them.
     *
     * @param sequences   indices into {@link #sequences()}, in flat order
     * @param firstRow    flat row of the group's first token
     * @param rows        flat rows the group spans
     * @param maxQuery    longest query in the group
     * @param maxContext  longest context (cached + new tokens) in the group
     */
    public record Group(int[] sequences, int firstRow, int rows, int maxQuery, int maxContext) {
        public int size() {
            return sequences.length;
        }
    }

    private final List<SequenceChunk> sequences;
    private final int blockSize;
    private final int[] firstRow;
    private final long[] tokenIds;
    private final long[] positions;
    private final long[] slots;
    private final long[] logitRows;
    private final List<Group> groups;

    private ForwardBatch(List<SequenceChunk> sequences, int blockSize) {
        this.sequences = List.copyOf(sequences);
        this.blockSize = blockSize;
        int n = sequences.size();
        List<Integer> decodes = new ArrayList<>();
        List<Integer> prefills = new ArrayList<>();
        int total = 0;
        int wantLogits = 0;
        for (int i = 0; i < n; i++) {
            SequenceChunk s = sequences.get(i);
            checkBlocks(i, s, blockSize);
            (s.queryLength() == 1 ? decodes : prefills).add(i);
            total += s.queryLength();
            wantLogits += s.needsLogits() ? 1 : 0;
        }
        this.firstRow = new int[n];
        this.tokenIds = new long[total];
        this.positions = new long[total];
        this.slots = new long[total];
        this.groups = new ArrayList<>(2);
        int row = 0;
        for (List<Integer> kind : List.of(decodes, prefills)) {
            if (kind.isEmpty()) {
                continue;
            }
            int groupStart = row;
            int maxQuery = 0;
            int maxContext = 0;
            for (int i : kind) {
                SequenceChunk s = sequences.get(i);
                firstRow[i] = row;
                for (int t = 0; t < s.queryLength(); t++, row++) {
                    int position = s.startPosition() + t;
                    tokenIds[row] = s.token(t);
                    positions[row] = position;
                    slots[row] = slot(s, position, blockSize);
                }
                maxQuery = Math.max(maxQuery, s.queryLength());
                maxContext = Math.max(maxContext, s.contextLength());
            }
            groups.add(new Group(kind.stream().mapToInt(Integer::intValue).toArray(), groupStart, row - groupStart, maxQuery, maxContext));
        }
        this.logitRows = new long[wantLogits];
        int k = 0;
        for (int i = 0; i < n; i++) {
            SequenceChunk s = sequences.get(i);
            if (s.needsLogits()) {
                logitRows[k++] = firstRow[i] + s.queryLength() - 1;
            }
        }
    }

    public static ForwardBatch of(List<SequenceChunk> sequences, int blockSize) {
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("an empty forward batch");
        }
        return new ForwardBatch(sequences, blockSize);
    }

    private static void checkBlocks(int index, SequenceChunk s, int blockSize) {
        int needed = (s.contextLength() + blockSize - 1) / blockSize;
        if (s.blockCount() < needed) {
            throw new IllegalArgumentException("sequence " + index + " needs " + needed + " KV blocks for "
                    + s.contextLength() + " tokens but its block table has " + s.blockCount());
        }
        for (int b = 0; b < needed; b++) {
            if (s.block(b) <= 0) {
                throw new IllegalArgumentException("sequence " + index + " maps block " + b + " to " + s.block(b)
                        + "; block 0 is the null block");
            }
        }
    }

    /** The cache slot that holds {@code position} of a sequence. */
    public static long slot(SequenceChunk s, int position, int blockSize) {
        return (long) s.block(position / blockSize) * blockSize + position % blockSize;
    }

    public List<SequenceChunk> sequences() {
        return sequences;
    }

    public int blockSize() {
        return blockSize;
    }

    public int totalTokens() {
        return tokenIds.length;
    }

    /** Flat row of a sequence's first token this step. */
    public int firstRow(int sequence) {
        return firstRow[sequence];
    }

    /** Token ids in flat order. The arrays below are shared, not copied: read them, never write. */
    public long[] tokenIds() {
        return tokenIds;
    }

    /** Absolute position of each flat row. */
    public long[] positions() {
        return positions;
    }

    /** Cache slot each flat row's key and value are written to. */
    public long[] slots() {
        return slots;
    }

    /** Flat rows whose logits are wanted, in the order sequences were given. */
    public long[] logitRows() {
        return logitRows;
    }

    /** The decode group (if any) then the prefill group (if any), in flat order. */
    public List<Group> groups() {
        return groups;
    }
}
