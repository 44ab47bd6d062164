package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose layers have different windows (full, sliding 4, full, via
 * layer_types): the block-table paths, whose masks are built once per step per distinct window,
 * against the gather path, whose masks the host builds.
 */
class MixedWindowsTest {

    @TempDir
    Path temp;

    @Test
    void blockPathsAgreeWithGatherWhenLayersHaveDifferentWindows() throws Exception {
        Path dir = TinyCheckpoint.llama().architecture("Qwen2ForCausalLM").set("sliding_window", 4)
                .set("layer_types", List.of("full_attention", "sliding_attention", "full_attention")).writeTo(temp.resolve("mixed"));
        float[] gather = run(dir, AttentionChoice.GATHER);
        for (AttentionChoice choice : List.of(AttentionChoice.BLOCKS_MATMUL, AttentionChoice.BLOCKS_SDPA)) {
            float[] blocks = run(dir, choice);
            double worst = 0;
            for (int i = 0; i < gather.length; i++) {
                worst = Math.max(worst, Math.abs(gather[i] - blocks[i]));
            }
            System.out.println("mixed windows " + choice + " vs gather: " + worst);
            assertTrue(worst < 1e-4, choice + " vs gather: " + worst);
        }
        // And the windows matter: a model with no window differs.
        Path full = TinyCheckpoint.llama().architecture("Qwen2ForCausalLM").writeTo(temp.resolve("full"));
        float[] none = run(full, AttentionChoice.GATHER);
        double d = 0;
        for (int i = 0; i < gather.length; i++) {
            d = Math.max(d, Math.abs(gather[i] - none[i]));
        }
        System.out.println("windowed vs unwindowed: " + d);
        assertTrue(d > 1e-3, "the window changes the logits: " + d);
    }

    private static float[] run(Path dir, AttentionChoice choice) {
        Random random = new Random(3);
        int[] a = random.ints(15, 0, 96).toArray();
        int[] b = random.ints(12, 0, 96).toArray();
        try (LoadedModel loaded = LoadedModel.load(ModelLoadOptions.of(dir, ComputeTarget.cpuFloat32()))) {
            List<float[]> steps = ReferenceParityTest.raggedSteps(loaded.model(), choice::create, a, b);
            int length = steps.stream().mapToInt(x -> x.length).sum();
            float[] all = new float[length];
            int at = 0;
            for (float[] step : steps) {
                System.arraycopy(step, 0, all, at, step.length);
                at += step.length;
            }
            return all;
        }
    }
}
