package io.spillway.models.grammar;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Documents sampled under a schema's grammar, by several kinds of "model", always end and always
 * parse and validate against the schema with an independent validator.
 */
class JsonSchemaGrammarTest {

    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final SchemaValidator VALIDATOR = new SchemaValidator();
    private static final int MAX_TOKENS = 3000;

    static Stream<Arguments> vocabularies(Map<String, String> schemas) {
        Map<String, Supplier<Vocabulary>> vocabularies = Map.of("qwen3", TestVocabularies::qwen, "demo", TestVocabularies::demo);
        return schemas.entrySet().stream().flatMap(s -> vocabularies.entrySet().stream()
                .map(v -> Arguments.of(s.getKey(), s.getValue(), v.getKey(), v.getValue())));
    }

    static Stream<Arguments> bounded() {
        return vocabularies(Schemas.bounded());
    }

    static Stream<Arguments> all() {
        return Stream.concat(bounded(), vocabularies(Schemas.unbounded()));
    }

    @ParameterizedTest(name = "{0} on {2}")
    @MethodSource("all")
    void randomModelsWriteValidDocuments(String name, String schema, String vocabName, Supplier<Vocabulary> vocab) throws Exception {
        CompiledGrammar g = CompiledGrammar.compile(Grammar.json(JSON.readTree(schema)), vocab.get());
        for (long seed = 0; seed < 4; seed++) {
            assertValid(schema, Walker.sample(g, Walker.RANDOM, seed, MAX_TOKENS));
        }
    }

    @ParameterizedTest(name = "{0} on {2}")
    @MethodSource("bounded")
    void adversarialModelsStillEndWithValidDocuments(String name, String schema, String vocabName, Supplier<Vocabulary> vocab)
            throws Exception {
        CompiledGrammar g = CompiledGrammar.compile(Grammar.json(JSON.readTree(schema)), vocab.get());
        for (Walker.Chooser model : List.of(Walker.WHITESPACE, Walker.LONGEST, Walker.SPECIAL)) {
            assertValid(schema, Walker.sample(g, model, 7, MAX_TOKENS));
        }
    }

    @ParameterizedTest(name = "{0} on {2}")
    @MethodSource("all")
    void specialTokensNeverAppearInsideJson(String name, String schema, String vocabName, Supplier<Vocabulary> vocab) throws Exception {
        CompiledGrammar g = CompiledGrammar.compile(Grammar.json(JSON.readTree(schema)), vocab.get());
        Walker.Document d = Walker.sample(g, Walker.SPECIAL, 3, MAX_TOKENS);
        for (int i = 0; i < d.tokens().size() - 1; i++) {
            assertEquals(false, vocab.get().isSpecial(d.tokens().get(i)), "special token inside " + d.text());
        }
        assertValid(schema, d);
    }

    static Stream<Arguments> freeJson() {
        return vocabularies(Map.of("anyJson", "{}", "anyJsonObject", "{\"type\": \"object\"}"));
    }

    @ParameterizedTest(name = "{0} on {2}")
    @MethodSource("freeJson")
    void freeJsonIsAnyValueOrAnyObject(String name, String schema, String vocabName, Supplier<Vocabulary> vocab) throws Exception {
        Grammar grammar = name.equals("anyJson") ? Grammar.anyJson() : Grammar.anyJsonObject();
        CompiledGrammar g = CompiledGrammar.compile(grammar, vocab.get());
        for (long seed = 0; seed < 8; seed++) {
            assertValid(schema, Walker.sample(g, Walker.RANDOM, seed, MAX_TOKENS));
        }
        for (Walker.Chooser model : List.of(Walker.SPECIAL, Walker.WHITESPACE)) {
            assertValid(schema, Walker.sample(g, (allowed, v, r) -> r.nextInt(3) == 0 ? Walker.RANDOM.choose(allowed, v, r)
                    : model.choose(allowed, v, r), 11, MAX_TOKENS));
        }
    }

    static void assertValid(String schema, Walker.Document d) throws Exception {
        JsonNode parsed = JSON.readTree(d.text());
        assertEquals(List.of(), VALIDATOR.errors(schema, d.text()), () -> "document " + d.text() + " parsed as " + parsed);
    }
}
