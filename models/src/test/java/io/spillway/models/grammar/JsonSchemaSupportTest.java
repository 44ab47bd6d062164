package io.spillway.models.grammar;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class JsonSchemaSupportTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One schema per supported keyword that uses it: a keyword added to the set without one fails below. */
    static Map<String, String> examples() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("type", "{\"type\": \"boolean\"}");
        m.put("properties", "{\"properties\": {\"a\": {\"type\": \"null\"}}}");
        m.put("required", "{\"properties\": {\"a\": {\"type\": \"null\"}}, \"required\": [\"a\"]}");
        m.put("additionalProperties", "{\"type\": \"object\", \"additionalProperties\": false}");
        m.put("enum", "{\"enum\": [1, \"two\", null]}");
        m.put("const", "{\"const\": {\"k\": [1]}}");
        m.put("pattern", "{\"type\": \"string\", \"pattern\": \"^a|b$\"}");
        m.put("format", "{\"type\": \"string\", \"format\": \"date\"}");
        m.put("minLength", "{\"type\": \"string\", \"minLength\": 2}");
        m.put("maxLength", "{\"type\": \"string\", \"maxLength\": 2}");
        m.put("minimum", "{\"type\": \"integer\", \"minimum\": 2}");
        m.put("maximum", "{\"type\": \"number\", \"maximum\": 2.5}");
        m.put("exclusiveMinimum", "{\"type\": \"number\", \"exclusiveMinimum\": 2}");
        m.put("exclusiveMaximum", "{\"type\": \"integer\", \"exclusiveMaximum\": 2}");
        m.put("anyOf", "{\"anyOf\": [{\"type\": \"null\"}, {\"type\": \"boolean\"}]}");
        m.put("oneOf", "{\"oneOf\": [{\"type\": \"null\"}, {\"type\": \"boolean\"}]}");
        m.put("$ref", "{\"$ref\": \"#/$defs/x\", \"$defs\": {\"x\": {\"type\": \"null\"}}}");
        m.put("$defs", "{\"$defs\": {\"x\": {\"type\": \"null\"}}, \"type\": \"null\"}");
        m.put("definitions", "{\"$ref\": \"#/definitions/x\", \"definitions\": {\"x\": {\"type\": \"null\"}}}");
        m.put("items", "{\"type\": \"array\", \"items\": {\"type\": \"null\"}}");
        m.put("prefixItems", "{\"type\": \"array\", \"prefixItems\": [{\"type\": \"null\"}], \"items\": false}");
        m.put("minItems", "{\"type\": \"array\", \"minItems\": 1, \"items\": {\"type\": \"null\"}}");
        m.put("maxItems", "{\"type\": \"array\", \"maxItems\": 1, \"items\": {\"type\": \"null\"}}");
        m.put("title", "{\"title\": \"t\", \"type\": \"null\"}");
        m.put("description", "{\"description\": \"d\", \"type\": \"null\"}");
        m.put("default", "{\"default\": null, \"type\": \"null\"}");
        m.put("examples", "{\"examples\": [null], \"type\": \"null\"}");
        m.put("$comment", "{\"$comment\": \"c\", \"type\": \"null\"}");
        m.put("$schema", "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"type\": \"null\"}");
        return m;
    }

    @Test
    void everySupportedKeywordHasAnExampleThatCompilesAndValidates() throws Exception {
        assertEquals(JsonSchemaSupport.SUPPORTED_KEYWORDS, examples().keySet());
        SchemaValidator validator = new SchemaValidator();
        for (Map.Entry<String, String> e : examples().entrySet()) {
            JsonNode schema = JSON.readTree(e.getValue());
            assertTrue(schema.has(e.getKey()), e.getKey());
            assertDoesNotThrow(() -> JsonSchemaSupport.check(schema), e.getKey());
            CompiledGrammar g = CompiledGrammar.compile(Grammar.json(schema), TestVocabularies.demo());
            for (long seed = 0; seed < 3; seed++) {
                JsonSchemaGrammarTest.assertValid(e.getValue(), Walker.sample(g, Walker.RANDOM, seed, 2000));
            }
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{\"allOf\": [{\"type\": \"null\"}]}                                                     | allOf                | ''",
        "{\"not\": {\"type\": \"null\"}}                                                         | not                  | ''",
        "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"number\", \"multipleOf\": 2}}} | multipleOf           | /properties/a",
        "{\"type\": \"array\", \"items\": {\"uniqueItems\": true}}                                | uniqueItems          | /items",
        "{\"type\": \"object\", \"patternProperties\": {}}                                       | patternProperties    | ''",
        "{\"type\": \"object\", \"minProperties\": 1}                                            | minProperties        | ''",
        "{\"if\": {}, \"then\": {}}                                                              | if                   | ''",
        "{\"$defs\": {\"x\": {\"contains\": {}}}, \"type\": \"null\"}                            | contains             | /$defs/x",
        "{\"anyOf\": [{\"type\": \"null\"}, {\"dependentRequired\": {}}]}                        | dependentRequired    | /anyOf/1",
        "{\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}                | additionalProperties | ''",
        "{\"type\": \"string\", \"format\": \"ipv6\"}                                            | format               | ''",
        "{\"type\": \"string\", \"pattern\": \"(?=a)b\"}                                         | pattern              | ''",
        "{\"type\": \"string\", \"pattern\": \"(a)\\\\1\"}                                       | pattern              | ''",
        "{\"type\": \"string\", \"pattern\": \"\\\\bword\"}                                      | pattern              | ''",
        "{\"type\": \"string\", \"pattern\": \"\\\\p{L}+\"}                                      | pattern              | ''",
        "{\"type\": \"string\", \"pattern\": \"a++\"}                                            | pattern              | ''",
        "{\"type\": \"string\", \"pattern\": \"^a\", \"maxLength\": 3}                           | maxLength            | ''",
        "{\"$ref\": \"https://example.com/s.json\"}                                              | $ref                 | ''",
        "{\"type\": \"tuple\"}                                                                   | type                 | ''",
        "{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}                                 | minimum              | ''",
    })
    void unsupportedKeywordsAreRefusedByName(String schema, String keyword, String pointer) throws Exception {
        JsonNode node = JSON.readTree(schema);
        UnsupportedSchemaException e = assertThrows(UnsupportedSchemaException.class, () -> JsonSchemaSupport.check(node));
        assertEquals(keyword, e.keyword());
        assertEquals(pointer, e.pointer());
        assertTrue(e.getMessage().contains("'" + keyword + "'"), e.getMessage());
        UnsupportedSchemaException again = assertThrows(UnsupportedSchemaException.class,
                () -> CompiledGrammar.compile(Grammar.json(node), TestVocabularies.demo()));
        assertEquals(e.getMessage(), again.getMessage());
    }

    @Test
    void schemasWithoutFiniteDocumentsAreRefusedAndInfiniteBranchesDropped() throws Exception {
        String endless = "{\"type\": \"object\", \"properties\": {\"next\": {\"$ref\": \"#/$defs/a\"}}, \"required\": [\"next\"]}";
        JsonNode never = JSON.readTree("{\"$ref\": \"#/$defs/a\", \"$defs\": {\"a\": " + endless + "}}");
        assertThrows(IllegalArgumentException.class, () -> JsonSchemaSupport.check(never));
        assertThrows(IllegalArgumentException.class, () -> CompiledGrammar.compile(Grammar.json(never), TestVocabularies.demo()));
        String maybe = "{\"anyOf\": [{\"$ref\": \"#/$defs/a\"}, {\"type\": \"null\"}], \"$defs\": {\"a\": " + endless + "}}";
        CompiledGrammar g = CompiledGrammar.compile(Grammar.json(JSON.readTree(maybe)), TestVocabularies.demo());
        for (long seed = 0; seed < 5; seed++) {
            assertEquals("null", Walker.sample(g, Walker.RANDOM, seed, 100).text());
        }
    }

    @Test
    void unsupportedRegexFeaturesAreNamed() throws Exception {
        JsonNode node = JSON.readTree("{\"type\": \"string\", \"pattern\": \"(?<year>\\\\d{4})\"}");
        UnsupportedSchemaException e = assertThrows(UnsupportedSchemaException.class, () -> JsonSchemaSupport.check(node));
        assertTrue(e.getMessage().contains("(?<"), e.getMessage());
    }
}
