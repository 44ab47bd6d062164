package io.spillway.bench;

import io.spillway.server.embeddings.EmbeddingModel;
import io.spillway.server.embeddings.EmbeddingModelSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One ONNX Runtime run of the built-in embedding model (all-MiniLM-L6-v2, 6 layers, 384 wide) over a
 * batch of 64-token inputs, on the CPU: what the embedding service's micro-batches cost.
 *
 * <p>What the figure means: the model needs about {@code 2 * 22.7M parameters * tokens} FLOPs
 * (plus attention), so inputs/s against the GEMM rate of MatmulBenchmark says how close ONNX Runtime
 * comes to the machine; the batch-1 vs batch-32 per-input times show what micro-batching buys.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Dai.djl.offline=true"})
public class EmbeddingBatchBenchmark {

    @Param({"1", "8", "32"})
    int batch;

    private EmbeddingModel model;
    private List<long[]> inputs;

    @Setup(Level.Trial)
    public void load() throws Exception {
        model = EmbeddingModel.load(EmbeddingModelSource.builtin(), "cpu");
        String sentence = "Spillway keeps private data on the team's own GPU boxes and spills overflow to Bedrock when the"
                + " local queue saturates, with caches, budgets, safety filters and an audit trail around every request.";
        long[] ids = model.tokenize(sentence);
        inputs = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            inputs.add(java.util.Arrays.copyOf(ids, Math.min(64, ids.length)));
        }
    }

    @Benchmark
    public float[][] embedBatch() throws Exception {
        return model.embed(inputs);
    }

    @TearDown(Level.Trial)
    public void close() {
        model.close();
    }
}
