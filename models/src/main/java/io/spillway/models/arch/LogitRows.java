package io.spillway.models.arch;

/**
 * Which rows of a step's last hidden state become logits. The decoder script declares the same
 * names in its {@code LogitRows} Enum, with these constants' ordinals as values (checked at load).
 */
public enum LogitRows {
    /** None: a prefill chunk that does not end its prompt; the LM head is skipped. */
    NONE,
    /** Every row, in order: no gather (every batch-1 decode step). */
    ALL,
    /** The rows listed in the call's {@code logitRows}. */
    SELECTED;

    /** The mode that reads {@code rows} out of a batch of {@code tokens} rows. */
    static LogitRows of(long[] rows, int tokens) {
        if (rows.length == 0) {
            return NONE;
        }
        if (rows.length != tokens) {
            return SELECTED;
        }
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] != i) {
                return SELECTED;
            }
        }
        return ALL;
    }
}
