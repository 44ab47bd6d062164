package io.spillway.server.wire;

/** Whether and which tools the model may or must call. */
public sealed interface ToolChoice {

    /** The model must not call a tool. */
    record None() implements ToolChoice {
    }

    /** The model decides (the default when tools are given). */
    record Auto() implements ToolChoice {
    }

    /** The model must call at least one tool. */
    record Required() implements ToolChoice {
    }

    /** The model must call this tool. */
    record Named(String name) implements ToolChoice {
    }
}
