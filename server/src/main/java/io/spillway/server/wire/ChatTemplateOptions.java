package io.spillway.server.wire;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;

/**
 * What a chat request gives the model's chat template besides the messages and tools: documents
 * (rendered into the prompt by templates that know them), a template of its own or the name of one
 * of the model's, extra template variables, and whether to end with the assistant's turn.
 */
public record ChatTemplateOptions(Optional<JsonNode> documents, Optional<String> chatTemplate, Optional<ObjectNode> kwargs,
                                  boolean addGenerationPrompt, boolean addSpecialTokens) {

    public ChatTemplateOptions {
        documents = documents.map(JsonNode::deepCopy);
        kwargs = kwargs.map(ObjectNode::deepCopy);
    }
}
