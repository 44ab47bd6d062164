package io.spillway.server.platform.cache;

import static io.spillway.server.testing.Pipelines.chat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** An answer is reused only for a request it answers: whatever shapes the output is in the key. */
class CacheKeysTest {

    private static final String BASE = "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}]";
    private static final String TOOL = "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
            + "\"properties\":{\"city\":{\"type\":\"string\"}}}}}";

    @Test
    void toolsToolChoiceAndResponseFormatAreAllPartOfTheKey() {
        List<String> variants = List.of(
                "{" + BASE + "}",
                "{" + BASE + ",\"tools\":[" + TOOL + "]}",
                "{" + BASE + ",\"tools\":[" + TOOL.replace("get_weather", "get_time") + "]}",
                "{" + BASE + ",\"tools\":[" + TOOL.replace("string", "integer") + "]}",
                "{" + BASE + ",\"tools\":[" + TOOL + "],\"tool_choice\":\"required\"}",
                "{" + BASE + ",\"tools\":[" + TOOL + "],\"tool_choice\":\"none\"}",
                "{" + BASE + ",\"tools\":[" + TOOL + "],\"parallel_tool_calls\":false}",
                "{" + BASE + ",\"response_format\":{\"type\":\"json_object\"}}",
                "{" + BASE + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"object\"}}}}",
                "{" + BASE + ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"type\":\"array\"}}}}");
        Set<String> keys = new HashSet<>();
        Set<String> partitions = new HashSet<>();
        for (String v : variants) {
            keys.add(CacheKeys.exact(chat(v), "scope"));
            partitions.add(CacheKeys.partition(chat(v), "scope"));
        }
        assertEquals(variants.size(), keys.size(), "one exact key per variant");
        assertEquals(variants.size(), partitions.size(), "the semantic cache never mixes them either");
    }

    @Test
    void howTheAnswerIsDeliveredIsNot() {
        assertEquals(CacheKeys.exact(chat("{" + BASE + ",\"tools\":[" + TOOL + "]}"), "s"),
                CacheKeys.exact(chat("{" + BASE + ",\"tools\":[" + TOOL + "],\"stream\":true}"), "s"));
    }
}
