package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.TinyCheckpoint;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What a pass streams, the bandwidth floor benchmarks divide by: everything held but an embedding
 * table that is not also the LM head (only its tokens' rows are gathered) and a second copy of the
 * projections. A tied float head is streamed whole as the head; an untied model's table, the float
 * table beside an int8 head, and an int8 table with its row scales are not.
 */
class StreamedBytesTest {

    /** TinyCheckpoint.llama's vocabulary and width, which the test checks against the loaded config. */
    private static final long VOCAB = 96;
    private static final long HIDDEN = 64;

    @TempDir
    Path temp;

    @ParameterizedTest(name = "tied {0}, {1}")
    @CsvSource({
            "true, none, 0",
            "false, none, " + VOCAB * HIDDEN * 4,
            "true, int8, " + VOCAB * HIDDEN * 4,
            "false, int8, " + VOCAB * HIDDEN * 4,
            "true, 'int8,lm-head=float', 0",
            // An int8 table: a byte per entry and a float scale per row.
            "true, 'int8,embeddings=int8', " + (VOCAB * HIDDEN + VOCAB * 4)})
    void aPassStreamsAllButAGatheredOnlyTable(boolean tied, String quantization, long gatheredOnly) throws Exception {
        Path dir = TinyCheckpoint.llama().set("tie_word_embeddings", tied).writeTo(temp.resolve("m"));
        try (LoadedModel model = LoadedModel.load(ModelLoadOptions.of(dir, ComputeTarget.cpuFloat32())
                .withProjectionLayout(ProjectionLayout.ROW_BLOCKS).withQuantization(Quantization.parse(quantization)))) {
            assertEquals(VOCAB, model.model().config().vocabSize());
            assertEquals(HIDDEN, model.model().config().hiddenSize());
            WeightSummary summary = model.model().weightSummary();
            assertEquals(summary.bytes() - gatheredOnly, summary.streamedBytes(), summary.describe());
        }
    }
}
