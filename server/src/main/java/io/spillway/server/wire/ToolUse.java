package io.spillway.server.wire;

import java.util.List;

/**
 * The tools a chat request offers and how the model may use them.
 *
 * @param parallel the model may call several tools in one answer (parallel_tool_calls)
 */
public record ToolUse(List<Tool> tools, ToolChoice choice, boolean parallel) {

    public static final ToolUse NONE = new ToolUse(List.of(), new ToolChoice.None(), true);

    public ToolUse {
        tools = List.copyOf(tools);
    }

    /** Whether the model may call a tool at all. */
    public boolean offered() {
        return !tools.isEmpty() && !(choice instanceof ToolChoice.None);
    }
}
