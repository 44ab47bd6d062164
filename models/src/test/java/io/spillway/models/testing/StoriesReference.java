package io.spillway.models.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * stories260K and its reference.json: greedy ids from an independent implementation, cut where
 * the top-2 logit margin falls under 0.02, so a correct float32 forward pass reproduces each exactly.
 */
public record StoriesReference(Path directory, List<int[]> prompts, List<int[]> expected) {

    public static StoriesReference load() {
        Path dir = SharedData.require("models/stories260K");
        try {
            JsonNode ref = new ObjectMapper().readTree(Files.readString(dir.resolve("reference.json")));
            List<int[]> prompts = new ArrayList<>();
            List<int[]> expected = new ArrayList<>();
            for (JsonNode c : ref.get("cases")) {
                prompts.add(ints(c.get("prompt_ids")));
                expected.add(ints(c.get("greedy_ids")));
            }
            return new StoriesReference(dir, List.copyOf(prompts), List.copyOf(expected));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
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
