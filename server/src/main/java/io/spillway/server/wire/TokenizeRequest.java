package io.spillway.server.wire;

import java.util.List;
import java.util.Optional;

/**
 * vLLM's {@code POST /tokenize}: a text prompt, or a conversation rendered with the chat template.
 *
 * @param messages empty for a text prompt
 */
public record TokenizeRequest(Optional<String> model, Optional<String> prompt, List<Message> messages, List<Tool> tools,
                              ChatTemplateOptions template, boolean addSpecialTokens, boolean returnTokenStrings) {

    public TokenizeRequest {
        messages = List.copyOf(messages);
        tools = List.copyOf(tools);
    }
}
