package io.spillway.server.api;

import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.Dialect;
import com.networknt.schema.dialect.Dialects;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * OpenAI's own OpenAPI description (../shared/openai/openapi.json) as a JSON Schema validator:
 * {@code errors("CreateChatCompletionResponse", json)} checks a body against
 * {@code #/components/schemas/CreateChatCompletionResponse}, following its $refs.
 *
 * <p>The document is OpenAPI 3.1 but still marks some fields {@code nullable: true} (3.0 style);
 * the dialect is JSON Schema 2020-12 plus that one keyword, so null is accepted exactly where the
 * description allows it and every other rule stays strict.
 */
public final class OpenApiSchemas {

    private static final String DOCUMENT = "https://spillway.test/openai/openapi.json";
    private static final String DIALECT = "https://spillway.test/dialect/2020-12-with-nullable";

    private final SchemaRegistry registry;
    private final Map<String, Schema> schemas = new ConcurrentHashMap<>();

    public OpenApiSchemas(Path openapiJson) throws IOException {
        String document = Files.readString(openapiJson);
        Dialect dialect = Dialect.builder(DIALECT, Dialects.getDraft202012())
                .keyword(Dialects.getOpenApi30().getKeywords().get("nullable"))
                .build();
        this.registry = SchemaRegistry.withDefaultDialect(dialect, b -> b.schemas(Map.of(DOCUMENT, document)));
    }

    public List<String> errors(String schemaName, String json) {
        Schema schema = schemas.computeIfAbsent(schemaName,
                n -> registry.getSchema(SchemaLocation.of(DOCUMENT + "#/components/schemas/" + n)));
        return schema.validate(json, InputFormat.JSON).stream().map(Error::toString).toList();
    }
}
