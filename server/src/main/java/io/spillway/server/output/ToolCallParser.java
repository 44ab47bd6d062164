package io.spillway.server.output;

import java.util.List;

/**
 * Reads tool calls out of a model's answer as it streams, in one family's markup. Text that is not
 * a call goes on as content; markup is held back until it is whole, so none of it ever reaches the
 * content; a call that does not parse goes on as content, markup and all. Each family's reader
 * only says what its held-back text is, in {@link #drain}.
 */
public abstract sealed class ToolCallParser permits ArrayToolCalls, JsonToolCalls, TaggedToolCalls {

    /** Text received and not yet passed on. */
    final StringBuilder pending = new StringBuilder();
    private final ToolCallIds ids;
    private int calls;

    ToolCallParser(ToolCallIds ids) {
        this.ids = ids;
    }

    public final List<OutputPiece> add(String text) {
        pending.append(text);
        return drain(false);
    }

    /** The rest, the answer having ended. */
    public final List<OutputPiece> finish() {
        return drain(true);
    }

    /** How many calls were read. */
    public final int calls() {
        return calls;
    }

    /** The next call, numbered in the answer's order and given a fresh id in the family's shape. */
    final OutputPiece.ToolCall call(String name, String arguments) {
        return new OutputPiece.ToolCall(calls++, ids.next(), name, arguments);
    }

    /** What of {@link #pending} can be passed on; at the {@code end}, all of it. */
    abstract List<OutputPiece> drain(boolean end);
}
