package io.spillway.bench;

import io.spillway.models.tokenizer.IncrementalDetokenizer;
import io.spillway.models.tokenizer.TextTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * Incremental detokenization with the real Qwen3 tokenizer (151,669 ids, byte-level BPE) from
 * {@code ../shared/tokenizers/qwen3}: the engine turns every generated token into text this way,
 * handling tokens that end mid-character. Measured per token over a 256-token English answer.
 *
 * <p>What the figure means: there is no hardware ceiling; compare it with a decode step divided by the
 * batch, since it runs on the engine thread for every sequence every step.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class DetokenizeBenchmark {

    @Param({"../shared/tokenizers/qwen3"})
    String tokenizerDir;

    private TextTokenizer tokenizer;
    private int[] answer;
    private IncrementalDetokenizer detokenizer;
    private int next;

    @Setup(Level.Trial)
    public void load() throws Exception {
        Path dir = Path.of(tokenizerDir);
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            throw new IllegalStateException("no tokenizer.json in " + dir.toAbsolutePath() + ": run from the project root with ../shared"
                    + " beside it, or pass -p tokenizerDir=DIR");
        }
        tokenizer = io.spillway.models.tokenizer.HfTokenizer.load(dir.resolve("tokenizer.json"));
        StringBuilder text = new StringBuilder();
        while (text.length() < 1400) {
            text.append("The engine streams each token as text the moment it is safe to: a multi-byte character split across"
                    + " tokens waits for its last byte, déjà vu – naïve café ✓. ");
        }
        int[] ids = tokenizer.encode(text.toString(), false);
        answer = java.util.Arrays.copyOf(ids, Math.min(256, ids.length));
        detokenizer = new IncrementalDetokenizer(tokenizer, new int[] {1}, true);
    }

    @Benchmark
    public String addToken() {
        if (next == answer.length) {
            next = 0;
            detokenizer = new IncrementalDetokenizer(tokenizer, new int[] {1}, true);
        }
        return detokenizer.add(answer[next++]);
    }

    @TearDown(Level.Trial)
    public void close() {
        tokenizer.close();
    }
}
