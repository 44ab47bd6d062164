package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;

/**
 * What a chat request gives the model's chat template besides the messages: tools and documents
 * (rendered into the prompt by templates that know them), a template of its own or the name of one
 * of the model's, extra template variables, and whether to end with the assistant's turn.
 *
 * @param toolChoice and {@code functions}: read only to keep such requests on a route that knows tools
 */
public record ChatTemplateOptions(Optional<JsonNode> tools, Optional<JsonNode> toolChoice, Optional<JsonNode> functions,
                                  Optional<JsonNode> documents, Optional<String> chatTemplate, Optional<ObjectNode> kwargs,
                                  boolean addGenerationPrompt, boolean addSpecialTokens) {

    public ChatTemplateOptions {
        tools = tools.map(JsonNode::deepCopy);
        toolChoice = toolChoice.map(JsonNode::deepCopy);
        functions = functions.map(JsonNode::deepCopy);
        documents = documents.map(JsonNode::deepCopy);
        kwargs = kwargs.map(ObjectNode::deepCopy);
    }

    public boolean hasTools() {
        return tools.isPresent() && !tools.get().isEmpty();
    }
}
