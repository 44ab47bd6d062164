package io.spillway.server.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.spillway.models.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Reasoning and tool calls read out of real models' output strings, whole and streamed split at
 * every character boundary: the pieces must be the same either way, and no markup may reach the
 * content.
 */
class OutputParserTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a parser made of a text: content, reasoning and calls (ids left out: they are fresh each time). */
    record Read(String content, String reasoning, List<String> calls) {
    }

    private static Read read(List<OutputPiece> pieces) {
        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        List<String> calls = new ArrayList<>();
        for (OutputPiece p : pieces) {
            switch (p) {
                case OutputPiece.Content c -> content.append(c.text());
                case OutputPiece.Reasoning r -> reasoning.append(r.text());
                case OutputPiece.ToolCall t -> calls.add(t.index() + ":" + t.name() + ":" + t.arguments());
            }
        }
        return new Read(content.toString(), reasoning.toString(), calls);
    }

    private static Read whole(OutputParser parser, String text) {
        List<OutputPiece> out = new ArrayList<>(parser.add(text));
        out.addAll(parser.finish());
        return read(out);
    }

    /** The text fed in two pieces split at {@code at}, then in single characters. */
    private static List<Read> streamed(java.util.function.Supplier<OutputParser> parsers, String text) {
        List<Read> reads = new ArrayList<>();
        for (int at = 0; at <= text.length(); at++) {
            OutputParser p = parsers.get();
            List<OutputPiece> out = new ArrayList<>(p.add(text.substring(0, at)));
            out.addAll(p.add(text.substring(at)));
            out.addAll(p.finish());
            reads.add(read(out));
        }
        OutputParser p = parsers.get();
        List<OutputPiece> out = new ArrayList<>();
        text.codePoints().forEach(c -> out.addAll(p.add(Character.toString(c))));
        out.addAll(p.finish());
        reads.add(read(out));
        return reads;
    }

    static Stream<Arguments> outputs() {
        Optional<ToolCallFormat> hermes = Optional.of(ToolCallFormat.HERMES);
        Optional<ToolCallFormat> llama = Optional.of(ToolCallFormat.LLAMA3_JSON);
        Optional<ToolCallFormat> mistral = Optional.of(ToolCallFormat.MISTRAL);
        return Stream.of(
                Arguments.of("qwen3 thinking, then an answer", true, false, Optional.empty(),
                        "<think>\nThe user greets me. I greet back.\n</think>\n\nHello! How can I help?",
                        new Read("Hello! How can I help?", "\nThe user greets me. I greet back.\n", List.of())),
                Arguments.of("qwen3 with thinking off: no block", true, false, Optional.empty(), "Hello <think> is a tag I know.",
                        new Read("Hello <think> is a tag I know.", "", List.of())),
                Arguments.of("deepseek-r1: the prompt opened the block", true, true, Optional.empty(),
                        "Two plus two is four.\n</think>\n\nThe answer is 4.",
                        new Read("The answer is 4.", "Two plus two is four.\n", List.of())),
                Arguments.of("qwen3 thinking, then a tool call", true, false, hermes,
                        "<think>\nI need the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\":"
                                + " \"Paris\"}}\n</tool_call>",
                        new Read("", "\nI need the weather.\n", List.of("0:get_weather:{\"location\":\"Paris\"}"))),
                Arguments.of("hermes: parallel calls", false, false, hermes,
                        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>\n<tool_call>\n"
                                + "{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n</tool_call>",
                        new Read("", "", List.of("0:get_weather:{\"location\":\"Paris\"}", "1:get_time:{\"zone\":\"CET\"}"))),
                Arguments.of("hermes: a call with text around it", false, false, hermes,
                        "Let me check. <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call> Done.",
                        new Read("Let me check.  Done.", "", List.of("0:f:{}"))),
                Arguments.of("hermes: a malformed call is content", false, false, hermes,
                        "<tool_call>{\"name\": \"f\", \"arguments\": {oops}</tool_call>",
                        new Read("<tool_call>{\"name\": \"f\", \"arguments\": {oops}</tool_call>", "", List.of())),
                Arguments.of("hermes: no call", false, false, hermes, "Just text, with a < and a <tool in it.",
                        new Read("Just text, with a < and a <tool in it.", "", List.of())),
                Arguments.of("llama 3.1: a JSON call", false, false, llama,
                        "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}",
                        new Read("", "", List.of("0:get_weather:{\"city\":\"Paris\",\"unit\":\"celsius\"}"))),
                Arguments.of("llama 3.2: two calls after the python tag", false, false, llama,
                        "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"x\": 1}}",
                        new Read("", "", List.of("0:a:{}", "1:b:{\"x\":1}"))),
                Arguments.of("llama: JSON that is not a call is content", false, false, llama, "{\"answer\": 42}",
                        new Read("{\"answer\": 42}", "", List.of())),
                Arguments.of("llama: plain text", false, false, llama, "The weather is fine.",
                        new Read("The weather is fine.", "", List.of())),
                Arguments.of("mistral: calls after the marker", false, false, mistral,
                        "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"g\", \"arguments\":"
                                + " {}}]",
                        new Read("", "", List.of("0:get_weather:{\"city\":\"Paris\"}", "1:g:{}"))),
                Arguments.of("mistral: a broken array is content", false, false, mistral, "Sure. [TOOL_CALLS] [{\"name\": ",
                        new Read("Sure. [TOOL_CALLS] [{\"name\": ", "", List.of())));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("outputs")
    void readsTheSameWholeAndStreamedAtEveryBoundary(String name, boolean thinks, boolean startsInside, Optional<ToolCallFormat> tools,
                                                     String text, Read expected) {
        assertEquals(expected, whole(new OutputParser(thinks, startsInside, tools), text));
        for (Read r : streamed(() -> new OutputParser(thinks, startsInside, tools), text)) {
            assertEquals(expected, r);
        }
    }

    @Test
    void withoutParallelCallsOnlyTheFirstCallIsPassedOn() {
        String text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
                + "<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": 1}}\n</tool_call>";
        Optional<ToolCallFormat> hermes = Optional.of(ToolCallFormat.HERMES);
        Read first = new Read("", "", List.of("0:a:{}"));
        OutputParser whole = new OutputParser(false, false, hermes, 1);
        assertEquals(first, whole(whole, text));
        assertEquals(1, whole.toolCalls());
        for (Read r : streamed(() -> new OutputParser(false, false, hermes, 1), text)) {
            assertEquals(first, r);
        }
        assertEquals(new Read("", "", List.of("0:a:{}", "1:b:{\"x\":1}")), whole(new OutputParser(false, false, hermes, 2), text));
    }

    @Test
    void markupNeverReachesTheContentWhileStreaming() {
        String text = "<think>a</think>\n\nx<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
        OutputParser p = new OutputParser(true, false, Optional.of(ToolCallFormat.HERMES));
        StringBuilder content = new StringBuilder();
        for (char c : text.toCharArray()) {
            for (OutputPiece piece : p.add(String.valueOf(c))) {
                if (piece instanceof OutputPiece.Content cp) {
                    content.append(cp.text());
                    assertFalse(content.toString().contains("<"), "markup leaked into content: " + content);
                }
            }
        }
        assertEquals("x", content.toString());
    }

    @Test
    void toolCallIdsFitTheirFamilysTemplate() {
        OutputParser mistral = new OutputParser(false, false, Optional.of(ToolCallFormat.MISTRAL));
        mistral.add("[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}]");
        OutputPiece.ToolCall call = (OutputPiece.ToolCall) mistral.finish().get(0);
        assertTrue(call.id().matches("[A-Za-z0-9]{9}"), "Mistral's template wants 9 alphanumeric characters: " + call.id());
        OutputParser hermes = new OutputParser(false, false, Optional.of(ToolCallFormat.HERMES));
        OutputPiece.ToolCall h = (OutputPiece.ToolCall) hermes.add("<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>").get(0);
        assertTrue(h.id().matches("call_[A-Za-z0-9]{24}"), h.id());
    }

    @Test
    void theFormatIsReadFromEachShippedTemplate() throws Exception {
        Path templates = SharedData.require("chat-templates");
        assertEquals(Optional.of(ToolCallFormat.HERMES), ToolCallFormat.of(template(templates.resolve("qwen3-0.6b"))));
        assertEquals(Optional.of(ToolCallFormat.HERMES), ToolCallFormat.of(template(templates.resolve("qwen2.5-0.5b-instruct"))));
        assertEquals(Optional.of(ToolCallFormat.HERMES), ToolCallFormat.of(template(templates.resolve("hermes-3-llama-3.1-8b"))));
        assertEquals(Optional.of(ToolCallFormat.LLAMA3_JSON), ToolCallFormat.of(template(templates.resolve("llama-3.1-8b-instruct"))));
        assertEquals(Optional.of(ToolCallFormat.MISTRAL), ToolCallFormat.of(template(templates.resolve("mistral-7b-instruct-v0.3"))));
        assertEquals(Optional.empty(), ToolCallFormat.of(template(templates.resolve("zephyr-7b-beta"))));
    }

    private static String template(Path dir) throws Exception {
        var config = JSON.readTree(Files.readString(dir.resolve("tokenizer_config.json"))).get("chat_template");
        if (config.isTextual()) {
            return config.asText();
        }
        StringBuilder all = new StringBuilder();
        config.forEach(t -> all.append(t.path("template").asText()));
        return all.toString();
    }
}
