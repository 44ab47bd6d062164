package io.spillway.server.output;

import java.util.List;

/**
 * Reads tool calls out of a model's answer as it streams, in one family's markup. Text that is not
 * a call goes on as content; markup is held back until it is whole, so none of it ever reaches the
 * content; a call that does not parse goes on as content, markup and all.
 */
public interface ToolCallParser {

    List<OutputPiece> add(String text);

    /** The rest, the answer having ended. */
    List<OutputPiece> finish();

    /** How many calls were read. */
    int calls();
}
