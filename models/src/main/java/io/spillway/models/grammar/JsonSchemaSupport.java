package io.spillway.models.grammar;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Set;

/**
 * The JSON Schema subset the grammar engine enforces: what OpenAI's strict structured outputs
 * accept, and a little more. The API layer can refuse a schema with {@link #check} before any
 * model sees it.
 *
 * <p>Choices, where JSON Schema leaves room:
 * <ul>
 *   <li>Properties are written in the schema's declared order; optional ones may be left out.
 *       {@code additionalProperties}: false, true or absent all generate declared properties
 *       only (a subset of what true allows, so every document still validates); an object schema
 *       without {@code properties} is any JSON object (just {@code {}} when additionalProperties
 *       is false). A schema-valued additionalProperties is refused.</li>
 *   <li>{@code integer} bounds are exact: every integer within them and no other. {@code number}
 *       bounds are sound but not complete: an integer part within the bounds, a fraction only
 *       where every fraction keeps the value within them (with maximum 1.5, 1 and 0.25 but not
 *       1.2), no exponent.</li>
 *   <li>Whitespace between JSON tokens: at most {@value JsonSyntax#MAX_GAP} characters per gap;
 *       no whitespace before or after the document. Numbers: at most
 *       {@value JsonSyntax#MAX_INT_DIGITS} integer digits, {@value JsonSyntax#MAX_FRACTION_DIGITS}
 *       fraction digits, {@value JsonSyntax#MAX_EXPONENT_DIGITS} exponent digits.</li>
 *   <li>{@code oneOf} is treated as {@code anyOf}: a document may match more than one branch
 *       when the branches overlap (keep them disjoint, e.g. by a const discriminator).</li>
 *   <li>{@code $ref}: local references ({@code #}, {@code #/$defs/x}, {@code #/definitions/x}),
 *       recursive ones too; calls nest at most {@value CompiledGrammar#MAX_DEPTH} deep (the
 *       nesting of free JSON too).</li>
 *   <li>{@code pattern}: see {@link Regex}; {@code pattern} or {@code format} together with
 *       minLength/maxLength is refused. Formats: {@link #SUPPORTED_FORMATS}; February has 28
 *       days (29 is never generated), seconds stop at 59.</li>
 *   <li>{@code enum} and {@code const} generate exactly their values, written compactly.</li>
 *   <li>Annotations ({@code title}, {@code description}, {@code default}, {@code examples},
 *       {@code $comment}, {@code $schema}) are ignored.</li>
 * </ul>
 */
public final class JsonSchemaSupport {

    public static final Set<String> SUPPORTED_KEYWORDS = Set.of(
            "type", "properties", "required", "additionalProperties",
            "enum", "const",
            "pattern", "format", "minLength", "maxLength",
            "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "anyOf", "oneOf", "$ref", "$defs", "definitions",
            "items", "prefixItems", "minItems", "maxItems",
            "title", "description", "default", "examples", "$comment", "$schema");

    public static final Set<String> SUPPORTED_FORMATS = Formats.NAMES;

    private JsonSchemaSupport() {
    }

    /**
     * Refuses a schema the engine cannot enforce.
     *
     * @throws UnsupportedSchemaException naming the keyword and its JSON pointer
     * @throws IllegalArgumentException   when no finite document satisfies the schema
     */
    public static void check(JsonNode schema) {
        Lowering.rules(Grammar.json(schema));
    }
}
