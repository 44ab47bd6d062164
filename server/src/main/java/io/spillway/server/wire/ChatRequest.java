package io.spillway.server.wire;

import java.util.List;
import java.util.Optional;

/** {@code POST /v1/chat/completions}, validated: everything here holds whichever route serves it. */
public record ChatRequest(String model, List<Message> messages, GenerationOptions options, ToolUse tools, ChatTemplateOptions template,
                          Optional<Retrieval> retrieval, RoutePreference route, Delivery delivery) implements GenerationBody {

    public ChatRequest {
        messages = List.copyOf(messages);
    }

    public ChatRequest withMessages(List<Message> replaced) {
        return new ChatRequest(model, replaced, options, tools, template, retrieval, route, delivery);
    }

    public ChatRequest withOptions(GenerationOptions replaced) {
        return new ChatRequest(model, messages, replaced, tools, template, retrieval, route, delivery);
    }

    public ChatRequest withTools(ToolUse replaced) {
        return new ChatRequest(model, messages, options, replaced, template, retrieval, route, delivery);
    }

    @Override
    public String endpoint() {
        return "chat";
    }

    /** One "role: content" line per message. */
    @Override
    public String promptText() {
        StringBuilder b = new StringBuilder();
        for (Message m : messages) {
            b.append(m.role().wireName()).append(": ").append(m.content()).append('\n');
        }
        return b.toString();
    }
}
