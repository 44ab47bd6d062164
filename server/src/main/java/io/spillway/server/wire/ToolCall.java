package io.spillway.server.wire;

/** A call the model made: its id, the function, and the arguments as a JSON string (OpenAI's shape). */
public record ToolCall(String id, String name, String arguments) {
}
