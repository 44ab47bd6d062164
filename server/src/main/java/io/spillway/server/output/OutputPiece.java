package io.spillway.server.output;

/** What a model's text turns out to be, piece by piece, once its markup is read. */
public sealed interface OutputPiece {

    /** Text of the answer. */
    record Content(String text) implements OutputPiece {
    }

    /** Text of the model's reasoning (between its thinking tags). */
    record Reasoning(String text) implements OutputPiece {
    }

    /** A tool call, whole: its position among the answer's calls, a fresh id, the function and its JSON arguments. */
    record ToolCall(int index, String id, String name, String arguments) implements OutputPiece {
    }
}
