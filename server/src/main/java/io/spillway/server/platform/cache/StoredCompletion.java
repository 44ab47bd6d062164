package io.spillway.server.platform.cache;

import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.StopReason;
import io.spillway.server.wire.ToolCall;
import io.spillway.server.wire.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A completed answer as the caches keep it: where and by what it ran, each choice whole, and the
 * usage it reported. It is replayed as a new generation of the same events, so a cached answer
 * reaches its caller exactly as a generated one would, streamed or not.
 */
public record StoredCompletion(GenerationEvent.Started started, List<Choice> choices, Usage usage) {

    public StoredCompletion {
        choices = List.copyOf(choices);
    }

    public record Choice(int index, String text, String reasoning, List<ToolCall> toolCalls, int[] tokenIds, FinishReason reason,
                         Optional<StopReason> stop) {

        public Choice {
            toolCalls = List.copyOf(toolCalls);
            tokenIds = tokenIds.clone();
        }

        @Override
        public int[] tokenIds() {
            return tokenIds.clone();
        }
    }

    /** The answer replayed, reporting {@code outcome} as how the cache took part. */
    public Generation replay(CacheOutcome outcome) {
        List<GenerationEvent> events = new ArrayList<>();
        events.add(started.withCache(outcome));
        for (Choice c : choices) {
            if (!c.reasoning().isEmpty()) {
                events.add(new GenerationEvent.ReasoningDelta(c.index(), c.reasoning()));
            }
            events.add(new GenerationEvent.Delta(c.index(), c.text(), c.tokenIds(), List.of()));
            for (int i = 0; i < c.toolCalls().size(); i++) {
                ToolCall call = c.toolCalls().get(i);
                events.add(new GenerationEvent.ToolCallDelta(c.index(), i, Optional.of(call.id()), Optional.of(call.name()), ""));
                events.add(new GenerationEvent.ToolCallDelta(c.index(), i, Optional.empty(), Optional.empty(), call.arguments()));
            }
            events.add(new GenerationEvent.Finished(c.index(), c.reason(), c.stop(), false));
        }
        events.add(new GenerationEvent.Completed(usage));
        return EventChannel.of(events);
    }

    /** About what the entry costs to keep: its text as Java strings and its ids. */
    int estimatedBytes() {
        int bytes = 256;
        for (Choice c : choices) {
            bytes += 64 + (c.text().length() + c.reasoning().length()) * 2 + c.tokenIds.length * 4;
            for (ToolCall call : c.toolCalls()) {
                bytes += 64 + (call.name().length() + call.arguments().length()) * 2;
            }
        }
        return bytes;
    }
}
