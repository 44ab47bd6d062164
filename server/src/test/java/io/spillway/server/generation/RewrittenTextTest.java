package io.spillway.server.generation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.spillway.server.testing.Pipelines;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Each part of each choice goes through its own rewriter, and what a rewriter holds comes out before its choice ends. */
class RewrittenTextTest {

    /** Holds everything until the part ends, then releases it upper-cased and tagged with its part. */
    private static RewrittenText.Rewriter holding(RewrittenText.Part part) {
        StringBuilder held = new StringBuilder();
        return new RewrittenText.Rewriter() {
            @Override
            public String add(String piece) {
                held.append(piece);
                return "";
            }

            @Override
            public String flush() {
                return part.kind() + "/" + part.choice() + "/" + part.call() + ":" + held.toString().toUpperCase(Locale.ROOT);
            }
        };
    }

    @Test
    void everyPartIsRewrittenApartAndFlushedBeforeItsChoiceEnds() {
        List<GenerationEvent> in = new ArrayList<>();
        in.add(new GenerationEvent.Started(Route.BEDROCK, "m", Optional.empty(), CacheOutcome.BYPASS, 2, Optional.empty(), false));
        in.add(new GenerationEvent.ReasoningDelta(0, "think "));
        in.add(new GenerationEvent.Delta(0, "hello ", new int[] {1}, List.of()));
        in.add(new GenerationEvent.Delta(1, "other", new int[] {2}, List.of()));
        in.add(new GenerationEvent.ReasoningDelta(0, "more"));
        in.add(new GenerationEvent.ToolCallDelta(0, 0, Optional.of("c0"), Optional.of("f"), "{\"a\":"));
        in.add(new GenerationEvent.ToolCallDelta(0, 1, Optional.of("c1"), Optional.of("g"), "{}"));
        in.add(new GenerationEvent.ToolCallDelta(0, 0, Optional.empty(), Optional.empty(), "1}"));
        in.add(new GenerationEvent.Delta(0, "world", new int[] {3}, List.of()));
        in.add(new GenerationEvent.Finished(0, FinishReason.STOP, Optional.empty(), false));
        in.add(new GenerationEvent.Finished(1, FinishReason.STOP, Optional.empty(), false));
        in.add(new GenerationEvent.Completed(Usage.NONE));

        List<GenerationEvent> out = Pipelines.events(new RewrittenText(EventChannel.of(in), RewrittenTextTest::holding));
        List<String> seen = new ArrayList<>();
        for (GenerationEvent e : out) {
            seen.add(switch (e) {
                case GenerationEvent.Delta d -> "delta " + d.choice() + " " + d.text();
                case GenerationEvent.ReasoningDelta r -> "reasoning " + r.choice() + " " + r.text();
                case GenerationEvent.ToolCallDelta t -> "call " + t.choice() + " " + t.call() + " " + t.name().orElse("-") + " " + t.arguments();
                case GenerationEvent.Finished f -> "finished " + f.choice();
                default -> e.getClass().getSimpleName();
            });
        }
        assertEquals(List.of("Started",
                "reasoning 0 ", "delta 0 ", "delta 1 ", "reasoning 0 ", "call 0 0 f ", "call 0 1 g ", "call 0 0 - ", "delta 0 ",
                "reasoning 0 REASONING/0/0:THINK MORE", "delta 0 CONTENT/0/0:HELLO WORLD", "call 0 0 - TOOL_ARGUMENTS/0/0:{\"A\":1}",
                "call 0 1 - TOOL_ARGUMENTS/0/1:{}", "finished 0",
                "delta 1 CONTENT/1/0:OTHER", "finished 1", "Completed"), seen);
    }
}
