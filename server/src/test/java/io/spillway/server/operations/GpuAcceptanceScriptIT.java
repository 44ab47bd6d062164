package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.testing.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code deploy/gpu-acceptance} itself, as an operator runs it, reduced and on the CPU: through the
 * launcher and the packaged jar, so the script, the command and the checks are known to work before
 * anyone has a GPU.
 */
class GpuAcceptanceScriptIT {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    record Run(int exit, String output) {
    }

    @Test
    void theReducedRunOnTheCpuPassesAndPrintsStepTimesAgainstTheFloor() throws Exception {
        Run run = run(List.of("--device", "cpu", "--reduced", "--stories", SharedData.require("models/stories260K").toString()));
        assertEquals(0, run.exit(), run.output());
        assertTrue(run.output().contains("PASS stories260K cpu/float32 picks reference.json"), run.output());
        assertTrue(run.output().contains("argmax agrees at 133 of 133 (all required)"), run.output());
        assertTrue(Pattern.compile("PASS SmolLM2-135M \\(random weights\\) cpu\\(\\)/float32 .* argmax agrees at 4 of 4").matcher(run.output()).find(),
                run.output());
        for (int batch : new int[] {1, 4}) {
            assertTrue(Pattern.compile("batch +" + batch + ", context 128: [0-9.]+ ms/step .* tokens/s; [0-9.]+ MB of weights streamed, weights-only floor [0-9.]+ ms at"
                    + " [0-9.]+ GB/s, [0-9.]+x the floor").matcher(run.output()).find(), run.output());
        }
        assertTrue(run.output().contains("device acceptance passed"), run.output());
    }

    @Test
    void aReferenceTheBuildDoesNotReproduceFailsTheRun(@TempDir Path dir) throws Exception {
        Path stories = SharedData.require("models/stories260K");
        for (String file : List.of("config.json", "model.safetensors")) {
            Files.copy(stories.resolve(file), dir.resolve(file));
        }
        String reference = Files.readString(stories.resolve("reference.json"));
        // The first case's first greedy id is 461; 460 is not what stories260K picks there.
        String changed = reference.replaceFirst("\"greedy_ids\": \\[\\s*461", "\"greedy_ids\": [ 460");
        assertTrue(!changed.equals(reference), "the reference's first greedy id was not 461");
        Files.writeString(dir.resolve("reference.json"), changed);
        Run run = run(List.of("--device", "cpu", "--reduced", "--stories", dir.toString()));
        assertEquals(1, run.exit(), run.output());
        // Fed the changed id, the model continues differently: more than the one changed position disagrees.
        assertTrue(Pattern.compile("FAIL stories260K cpu/float32 picks reference.json .* argmax agrees at [0-9]+ of 133 \\(all required\\)")
                .matcher(run.output()).find(), run.output());
        assertTrue(run.output().contains("device acceptance FAILED"), run.output());
    }

    private static Run run(List<String> args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of("bash", ROOT.resolve("deploy/gpu-acceptance").toString()));
        command.addAll(args);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        java.util.concurrent.CompletableFuture<byte[]> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return p.getInputStream().readAllBytes();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("the script did not end in 10 minutes");
        }
        return new Run(p.exitValue(), new String(out.join(), StandardCharsets.UTF_8));
    }
}
