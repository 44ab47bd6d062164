package io.spillway.server.local;

import io.spillway.models.grammar.JsonSchemaSupport;
import io.spillway.models.grammar.UnsupportedSchemaException;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.ResponseFormat;
import io.spillway.server.wire.Tool;
import io.spillway.server.wire.ToolChoice;

/**
 * Refuses, before any route is chosen, a schema the local grammar engine could not enforce (a 400
 * naming the keyword): a request must not be accepted when it spills to Bedrock and refused when
 * it runs here, nor have a keyword silently ignored. Checked: the response format's schema, and
 * the parameters of the tools a request requires (those calls are enforced).
 */
public final class StructuredOutputCheck implements Generator {

    private final Generator inner;

    public StructuredOutputCheck(Generator inner) {
        this.inner = inner;
    }

    @Override
    public Start start(GenerationRequest request) {
        if (request.body().options().format() instanceof ResponseFormat.JsonSchema s) {
            check(s.schema(), "response_format");
        }
        if (request.body() instanceof ChatRequest chat) {
            ToolChoice choice = chat.tools().choice();
            for (Tool t : chat.tools().tools()) {
                if (choice instanceof ToolChoice.Required || (choice instanceof ToolChoice.Named n && n.name().equals(t.name()))) {
                    check(t.parameters(), "tools");
                }
            }
        }
        return inner.start(request);
    }

    private static void check(com.fasterxml.jackson.databind.JsonNode schema, String param) {
        try {
            JsonSchemaSupport.check(schema);
        } catch (UnsupportedSchemaException e) {
            throw Constraints.unsupported(e, param);
        }
    }
}
