package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.generate.GreedyGenerator;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.StoriesReference;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * stories260K is a real trained Llama; reference.json holds greedy ids from an independent C
 * implementation, cut where the top-2 logit margin falls under 0.02, so a correct float32 forward
 * pass must reproduce every id exactly. It must in both projection layouts: the CPU's row blocks
 * and a GPU's plain 2-D weights (the script's {@code torch.linear} branch), here on the CPU.
 */
class Stories260KReferenceTest {

    private static final Map<ProjectionLayout, LoadedModel> MODELS = new EnumMap<>(ProjectionLayout.class);
    private static List<int[]> prompts;
    private static List<int[]> expected;

    @BeforeAll
    static void load() {
        StoriesReference ref = StoriesReference.load();
        prompts = ref.prompts();
        expected = ref.expected();
        for (ProjectionLayout layout : ProjectionLayout.values()) {
            ModelLoadOptions options = ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32()).withProjectionLayout(layout);
            MODELS.put(layout, LoadedModel.load(options));
        }
    }

    @AfterAll
    static void close() {
        MODELS.values().forEach(LoadedModel::close);
        MODELS.clear();
    }

    @ParameterizedTest
    @EnumSource(ProjectionLayout.class)
    void eachPromptAloneReproducesTheReference(ProjectionLayout layout) {
        DecoderModel model = MODELS.get(layout).model();
        ProjectionLayouts.requireApplied(model, layout);
        try (GreedyGenerator generator = new GreedyGenerator(model, 1, 128)) {
            for (int i = 0; i < prompts.size(); i++) {
                int[] out = generator.generate(List.of(prompts.get(i)), expected.get(i).length, Set.of()).get(0);
                assertArrayEquals(expected.get(i), out, layout + ", prompt " + i);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ProjectionLayout.class)
    void allPromptsDecodedTogetherInOneBatchReproduceTheReference(ProjectionLayout layout) {
        DecoderModel model = MODELS.get(layout).model();
        ProjectionLayouts.requireApplied(model, layout);
        int longest = expected.stream().mapToInt(e -> e.length).max().orElseThrow();
        try (GreedyGenerator generator = new GreedyGenerator(model, prompts.size(), 128)) {
            List<int[]> out = generator.generate(prompts, longest, Set.of());
            for (int i = 0; i < prompts.size(); i++) {
                int[] got = java.util.Arrays.copyOf(out.get(i), expected.get(i).length);
                assertArrayEquals(expected.get(i), got, layout + ", prompt " + i + " in a batch of " + prompts.size());
            }
        }
    }
}
