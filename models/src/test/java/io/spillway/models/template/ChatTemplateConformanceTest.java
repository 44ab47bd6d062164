package io.spillway.models.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.testing.SharedData;
import io.spillway.models.tokenizer.TokenizerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every case of the 20 template families in ../shared/chat-templates, rendered and compared byte
 * for byte with what transformers.apply_chat_template produced.
 */
class ChatTemplateConformanceTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    static Stream<Arguments> cases() throws IOException {
        Path root = SharedData.require("chat-templates");
        List<Arguments> out = new ArrayList<>();
        try (Stream<Path> families = Files.list(root)) {
            for (Path family : families.filter(Files::isDirectory).sorted().toList()) {
                try (Stream<Path> cases = Files.list(family.resolve("cases"))) {
                    for (Path c : cases.sorted().toList()) {
                        String name = c.getFileName().toString().replace(".json", "");
                        out.add(Arguments.of(family.getFileName() + "/" + name, family, name));
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rendersExactlyAsTransformers(String label, Path family, String caseName) throws IOException {
        JsonNode testCase = JSON.readTree(family.resolve("cases/" + caseName + ".json").toFile());
        JsonNode meta = JSON.readTree(family.resolve("meta.json").toFile());
        TokenizerConfig config = TokenizerConfig.load(family);
        String templateName = testCase.path("template_name").isTextual() ? testCase.get("template_name").asText() : null;
        String source = config.chatTemplate(templateName).orElseThrow();

        Map<String, Object> variables = new LinkedHashMap<>(config.specialTokens());
        JsonNode tokenizerConfig = JSON.readTree(family.resolve("tokenizer_config.json").toFile());
        if (tokenizerConfig.has("additional_special_tokens")) {
            variables.put("additional_special_tokens", ChatTemplate.fromJson(tokenizerConfig.get("additional_special_tokens")));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = testCase.get("input").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            variables.put(e.getKey(), ChatTemplate.fromJson(e.getValue()));
        }
        Clock clock = meta.has("clock_unix_secs")
                ? Clock.fixed(Instant.ofEpochSecond(meta.get("clock_unix_secs").asLong()), ZoneOffset.UTC)
                : Clock.systemUTC();
        String expected = Files.readString(family.resolve("expected/" + caseName + ".txt"));
        String actual = ChatTemplate.compile(source).render(variables, clock);
        assertEquals(expected, actual, label);
    }

    @org.junit.jupiter.api.Test
    void coversTwentyFamilies() throws IOException {
        assertTrue(cases().map(a -> ((Path) a.get()[1]).getFileName().toString()).distinct().count() >= 20);
    }
}
