package io.spillway.server.cli;

import io.spillway.models.runtime.ComputeTarget;
import io.spillway.server.bench.DeviceAcceptance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spillway acceptance}: the device path against the CPU path, and a decode step's cost on the
 * device against its bandwidth floor ({@link DeviceAcceptance}). {@code deploy/gpu-acceptance} runs
 * it; exit 0 when every parity check passed, 1 when one failed.
 */
@Command(name = "acceptance", mixinStandardHelpOptions = true,
        description = "Check a device before serving from it: logits of the device path against the CPU float32 path on"
                + " stories260K and a random-weight serving shape, then decode-step time against the memory-bandwidth floor.")
public final class AcceptanceCommand implements Callable<Integer> {

    @Option(names = "--device", defaultValue = "cuda", description = "The device to check: cuda, cuda:N or cpu. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--dtype", defaultValue = "auto", description = "auto (bfloat16 on GPUs of compute capability 8.0+, float16 on older ones, float32 on CPU), float32, float16, bfloat16. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--stories", required = true, description = "The stories260K directory (config.json, model.safetensors, reference.json).")
    Path stories;

    @Option(names = "--reduced", description = "SmolLM2-135M instead of Llama-3.2-1B, batches 1 and 4 at context 128, few steps: the"
            + " form CI runs on the CPU.")
    boolean reduced;

    @Override
    public Integer call() {
        if (!Files.isRegularFile(stories.resolve("reference.json")) || !Files.isRegularFile(stories.resolve("model.safetensors"))) {
            throw new CliError("no stories260K at " + stories + " (it needs config.json, model.safetensors and reference.json)");
        }
        ComputeTarget target;
        try {
            target = ComputeTarget.resolve(device, dtype);
        } catch (IllegalArgumentException e) {
            throw new CliError(e.getMessage());
        }
        boolean passed = new DeviceAcceptance(target, System.out).run(stories,
                reduced ? DeviceAcceptance.Plan.reduced() : DeviceAcceptance.Plan.full());
        return passed ? 0 : 1;
    }
}
