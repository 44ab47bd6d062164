package io.spillway.models.testing;

import io.spillway.models.generate.GreedyReference;
import java.nio.file.Path;
import java.util.List;

/**
 * stories260K and its reference.json: greedy ids from an independent implementation, cut where
 * the top-2 logit margin falls under 0.02, so a correct float32 forward pass reproduces each exactly.
 */
public record StoriesReference(Path directory, List<int[]> prompts, List<int[]> expected) {

    public static StoriesReference load() {
        Path dir = SharedData.require("models/stories260K");
        GreedyReference ref = GreedyReference.read(dir);
        return new StoriesReference(dir, ref.prompts(), ref.expected());
    }
}
