package io.spillway.models.batch;

/**
 * One sequence's part of a forward pass: the tokens it feeds this step, where they start, and the
 * KV blocks that hold (or will hold) its context.
 *
 * @param tokens        token ids fed this step: one for a decode, several for a (chunk of a) prefill
 * @param startPosition position of {@code tokens[0]}; positions before it are already in the cache
 * @param blockTable    the sequence's KV blocks in order; must cover {@code startPosition + tokens.length}
 * @param needsLogits   whether the caller wants logits for the last token (false for a prefill
 *                      chunk that does not finish the prompt)
 */
public record SequenceChunk(int[] tokens, int startPosition, int[] blockTable, boolean needsLogits) {

    public SequenceChunk {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("a sequence chunk needs at least one token");
        }
        if (startPosition < 0) {
            throw new IllegalArgumentException("negative start position " + startPosition);
        }
        tokens = tokens.clone();
        blockTable = blockTable.clone();
    }

    public static SequenceChunk decode(int token, int position, int[] blockTable) {
        return new SequenceChunk(new int[] {token}, position, blockTable, true);
    }

    /** Tokens in the cache once this chunk ran. */
    public int contextLength() {
        return startPosition + tokens.length;
    }

    public int queryLength() {
        return tokens.length;
    }

    @Override
    public int[] tokens() {
        return tokens.clone();
    }

    @Override
    public int[] blockTable() {
        return blockTable.clone();
    }

    int token(int i) {
        return tokens[i];
    }

    int block(int i) {
        return blockTable[i];
    }

    int blockCount() {
        return blockTable.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SequenceChunk c && startPosition == c.startPosition && needsLogits == c.needsLogits
                && java.util.Arrays.equals(tokens, c.tokens) && java.util.Arrays.equals(blockTable, c.blockTable);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(tokens) * 31 + startPosition;
    }

    @Override
    public String toString() {
        return "SequenceChunk[" + tokens.length + " tokens at " + startPosition + ", " + blockTable.length + " blocks]";
    }
}
