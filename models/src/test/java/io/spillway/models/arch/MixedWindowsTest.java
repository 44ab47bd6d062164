package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.AttentionBackend;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheManager;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.kv.SequenceBlocks;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
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
        try (LoadedModel loaded = LoadedModel.load(ModelLoadOptions.of(dir, ComputeTarget.cpuFloat32()));
             NDManager owner = loaded.model().manager().newSubManager()) {
            DecoderModel model = loaded.model();
            int blockSize = 4;
            KvCacheSpec spec = KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 32);
            PagedKvCache cache = PagedKvCache.allocate(spec, model.target().device(), owner);
            AttentionBackend attention = choice.create(cache, model.config());
            KvCacheManager blocks = new KvCacheManager(spec.numBlocks(), blockSize, false);
            SequenceBlocks seqA = blocks.newSequence("");
            SequenceBlocks seqB = blocks.newSequence("");
            for (int i = 1; i <= 5; i++) {
                blocks.ensureCapacity(seqA, i * blockSize);
                blocks.ensureCapacity(seqB, i * blockSize);
            }
            int[][] chunksA = {{0, 3}, {3, 6}, {6, 11}, {11, 12}, {12, 13}, {13, 14}, {14, 15}};
            int[][] chunksB = {{0, 7}, {7, 8}, {8, 9}, {9, 10}, {10, 11}, {11, 12}};
            List<Float> out = new ArrayList<>();
            for (int step = 0; step < chunksA.length; step++) {
                List<SequenceChunk> batch = new ArrayList<>();
                batch.add(new SequenceChunk(Arrays.copyOfRange(a, chunksA[step][0], chunksA[step][1]), chunksA[step][0], seqA.table(), true));
                if (step < chunksB.length) {
                    batch.add(new SequenceChunk(Arrays.copyOfRange(b, chunksB[step][0], chunksB[step][1]), chunksB[step][0], seqB.table(), true));
                }
                try (NDManager s = model.manager().newSubManager()) {
                    for (float f : model.forward(ForwardBatch.of(batch, blockSize), attention, s).toFloatArray()) {
                        out.add(f);
                    }
                }
            }
            float[] r = new float[out.size()];
            for (int i = 0; i < r.length; i++) {
                r[i] = out.get(i);
            }
            return r;
        }
    }
}
