package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.spillway.models.LoadFormat;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.attention.GatherAttention;
import io.spillway.models.batch.ForwardBatch;
import io.spillway.models.batch.SequenceChunk;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.kv.PagedKvCache;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.TinyCheckpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nothing a forward pass allocates outlives its step: after thousands of mixed steps the model's
 * managers hold exactly the arrays they held before, and resident memory is flat.
 *
 * <p>The steps run in a child JVM whose heap is fixed and pre-touched, so the heap is fully
 * resident from the start and any change in resident memory is native (libtorch, DJL, direct
 * buffers), not the garbage collector resizing its heap.
 */
class NativeMemoryTest {

    private static final Pattern RESULT = Pattern.compile("arrays (\\d+) -> (\\d+); rss (\\d+) kB -> (\\d+) kB");

    @TempDir
    Path temp;

    @Test
    void stepsLeaveNoArraysAndNoResidentGrowth() throws Exception {
        Path dir = TinyCheckpoint.llama().set("hidden_size", 256).set("intermediate_size", 512).set("num_attention_heads", 8)
                .set("num_key_value_heads", 2).set("vocab_size", 2048).set("num_hidden_layers", 4).set("max_position_embeddings", 1024)
                .writeToConfigOnly(temp.resolve("m"));
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process child = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true",
                "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), NativeMemoryTest.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes());
        assertTrue(child.waitFor(5, TimeUnit.MINUTES));
        assertEquals(0, child.exitValue(), output);
        Matcher m = RESULT.matcher(output);
        assertTrue(m.find(), output);
        long arraysBefore = Long.parseLong(m.group(1));
        long arraysAfter = Long.parseLong(m.group(2));
        long rssBefore = Long.parseLong(m.group(3));
        long rssAfter = Long.parseLong(m.group(4));
        System.out.printf("native memory over 3000 steps: %d -> %d arrays, RSS %d -> %d MB%n",
                arraysBefore, arraysAfter, rssBefore / 1024, rssAfter / 1024);
        assertEquals(arraysBefore, arraysAfter, "arrays held by the model's managers");
        assertTrue(rssAfter - rssBefore < 16 * 1024, "resident memory grew by " + (rssAfter - rssBefore) / 1024 + " MB");
    }

    /** The child: warm up, then 3000 more steps; prints array counts and RSS before and after. */
    public static void main(String[] args) throws IOException {
        ModelLoadOptions options = ModelLoadOptions.of(Paths.get(args[0]), ComputeTarget.cpuFloat32()).withFormat(LoadFormat.DUMMY);
        try (LoadedModel loaded = LoadedModel.load(options); NDManager owner = loaded.model().manager().newSubManager()) {
            DecoderModel model = loaded.model();
            int blockSize = 16;
            PagedKvCache cache = PagedKvCache.allocate(KvCacheSpec.ofBlocks(model.config(), blockSize, model.target().dtype(), 5 * 64 + 1),
                    model.target().device(), owner);
            GatherAttention attention = new GatherAttention(cache, model.config());
            Random random = new Random(1);
            Runnable step = () -> {
                // A mix of decodes at varied lengths and a prefill chunk, as the engine produces.
                List<SequenceChunk> batch = new ArrayList<>();
                for (int s = 0; s < 4; s++) {
                    int position = random.nextInt(900);
                    batch.add(SequenceChunk.decode(random.nextInt(2048), position, table(s, position + 1, blockSize)));
                }
                int[] chunk = random.ints(1 + random.nextInt(24), 0, 2048).toArray();
                batch.add(new SequenceChunk(chunk, 40, table(4, 40 + chunk.length, blockSize), random.nextBoolean()));
                try (NDManager stepManager = model.manager().newSubManager()) {
                    model.forward(ForwardBatch.of(batch, blockSize), attention, stepManager).toFloatArray();
                }
            };
            // JIT-compiled code and libtorch's allocator caches settle within ~2000 steps (measured:
            // RSS flat to the kilobyte from step 2000 to 12000); measure after that.
            for (int i = 0; i < 2000; i++) {
                step.run();
            }
            int arraysBefore = model.manager().getManagedArrays().size();
            long rssBefore = residentKb();
            for (int i = 0; i < 3000; i++) {
                step.run();
            }
            System.out.printf("arrays %d -> %d; rss %d kB -> %d kB%n",
                    arraysBefore, model.manager().getManagedArrays().size(), rssBefore, residentKb());
        }
    }

    /** Sequence s owns blocks [s * 64 + 1, ...): disjoint tables inside a 321-block cache. */
    private static int[] table(int sequence, int tokens, int blockSize) {
        int[] t = new int[(tokens + blockSize - 1) / blockSize];
        for (int i = 0; i < t.length; i++) {
            t[i] = sequence * 64 + 1 + i;
        }
        return t;
    }

    static long residentKb() throws IOException {
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
