package io.spillway.server.platform.cache;

import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.wire.ToolCall;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;

/** Collects a generation's events into the answer the caches keep, if it completes in full. */
final class CompletionRecorder {

    private GenerationEvent.Started started;
    private final TreeMap<Integer, StringBuilder> texts = new TreeMap<>();
    private final TreeMap<Integer, StringBuilder> reasoning = new TreeMap<>();
    /** Per choice, per call: id, name, arguments. */
    private final TreeMap<Integer, TreeMap<Integer, String[]>> calls = new TreeMap<>();
    private final TreeMap<Integer, List<Integer>> ids = new TreeMap<>();
    private final TreeMap<Integer, GenerationEvent.Finished> finished = new TreeMap<>();
    private boolean spoiled;

    void record(GenerationEvent event) {
        switch (event) {
            case GenerationEvent.Started s -> started = s;
            case GenerationEvent.Delta d -> {
                texts.computeIfAbsent(d.choice(), c -> new StringBuilder()).append(d.text());
                List<Integer> choiceIds = ids.computeIfAbsent(d.choice(), c -> new ArrayList<>());
                for (int id : d.tokenIds()) {
                    choiceIds.add(id);
                }
            }
            case GenerationEvent.ReasoningDelta r -> reasoning.computeIfAbsent(r.choice(), c -> new StringBuilder()).append(r.text());
            case GenerationEvent.ToolCallDelta t -> {
                String[] call = calls.computeIfAbsent(t.choice(), c -> new TreeMap<>()).computeIfAbsent(t.call(),
                        c -> new String[] {"", "", ""});
                t.id().ifPresent(id -> call[0] = id);
                t.name().ifPresent(name -> call[1] = name);
                call[2] += t.arguments();
            }
            case GenerationEvent.Finished f -> {
                spoiled |= f.aborted();
                finished.put(f.choice(), f);
            }
            case GenerationEvent.Failed f -> spoiled = true;
            default -> {
            }
        }
    }

    /** The whole answer, or empty when it failed, was cut short, or lost a choice. */
    Optional<StoredCompletion> completed(GenerationEvent.Completed end) {
        if (spoiled || started == null || finished.size() != started.choices()) {
            return Optional.empty();
        }
        List<StoredCompletion.Choice> choices = new ArrayList<>();
        for (GenerationEvent.Finished f : finished.values()) {
            int i = f.choice();
            List<ToolCall> toolCalls = new ArrayList<>();
            calls.getOrDefault(i, new TreeMap<>()).values().forEach(c -> toolCalls.add(new ToolCall(c[0], c[1], c[2])));
            choices.add(new StoredCompletion.Choice(i, texts.containsKey(i) ? texts.get(i).toString() : "",
                    reasoning.containsKey(i) ? reasoning.get(i).toString() : "", toolCalls,
                    ids.getOrDefault(i, List.of()).stream().mapToInt(Integer::intValue).toArray(), f.reason(), f.stop()));
        }
        return Optional.of(new StoredCompletion(started, choices, end.usage()));
    }
}
