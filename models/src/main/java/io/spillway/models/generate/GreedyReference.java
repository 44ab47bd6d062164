package io.spillway.models.generate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A checkpoint directory's {@code reference.json}: prompts and the greedy continuations an
 * independent implementation produced from them ({@code cases[].prompt_ids}, {@code greedy_ids}).
 * The tests and the device acceptance check both hold a build to it.
 *
 * @param prompts  prompt ids, per case
 * @param expected greedy continuation ids, per case
 */
public record GreedyReference(List<int[]> prompts, List<int[]> expected) {

    public GreedyReference {
        prompts = List.copyOf(prompts);
        expected = List.copyOf(expected);
    }

    /** Reads {@code dir/reference.json}. */
    public static GreedyReference read(Path dir) {
        Path file = dir.resolve("reference.json");
        try {
            JsonNode root = new ObjectMapper().readTree(Files.readString(file));
            List<int[]> prompts = new ArrayList<>();
            List<int[]> expected = new ArrayList<>();
            for (JsonNode c : root.get("cases")) {
                prompts.add(ints(c.get("prompt_ids")));
                expected.add(ints(c.get("greedy_ids")));
            }
            return new GreedyReference(prompts, expected);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
