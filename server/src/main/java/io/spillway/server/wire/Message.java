package io.spillway.server.wire;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One chat message: its role, its text (an array of text parts is joined with newlines, as vLLM
 * does for text-only models), and the message's other fields as sent (name, tool_calls,
 * tool_call_id, ...), which chat templates may read.
 */
public record Message(Role role, String content, ObjectNode extra) {

    public Message {
        extra = extra.deepCopy();
    }

    @Override
    public ObjectNode extra() {
        return extra.deepCopy();
    }

    public Message withContent(String text) {
        return new Message(role, text, extra);
    }
}
