package io.spillway.models.grammar;

import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.util.List;

/** An independent JSON Schema 2020-12 validator, with formats asserted rather than annotated. */
final class SchemaValidator {

    private final SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    List<String> errors(String schema, String document) {
        Schema s = registry.getSchema(schema, InputFormat.JSON);
        return s.validate(document, InputFormat.JSON, ctx -> ctx.executionConfig(c -> c.formatAssertionsEnabled(true)))
                .stream().map(Error::toString).toList();
    }
}
