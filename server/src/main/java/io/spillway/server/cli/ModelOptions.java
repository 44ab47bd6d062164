package io.spillway.server.cli;

import io.spillway.models.LoadFormat;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.arch.Quantization;
import io.spillway.models.runtime.ComputeTarget;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** How to load a model: shared by every command that runs one. */
public final class ModelOptions {

    @Option(names = "--device", defaultValue = "auto", description = "auto (a CUDA GPU if DJL sees one, else cpu), cpu, cuda, cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--dtype", defaultValue = "auto", description = "auto (bfloat16 on GPUs of compute capability 8.0+, float16 on older ones, float32 on CPU), float32, float16, bfloat16. Default: ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--load-format", defaultValue = "auto", description = "auto (the directory's safetensors) or dummy (random weights from config.json). Default: ${DEFAULT-VALUE}.")
    String loadFormat;

    @Option(names = "--max-model-len", defaultValue = "0", description = "Longest context served; 0 means the model's max_position_embeddings.")
    int maxModelLength;

    @Option(names = "--quantization", defaultValue = "none", description = "none or int8 (CPU, float32): layer projections and LM head as "
            + "int8 on load (a scale per 32 inputs on CPUs with AVX-512 VNNI, else per channel); int8,lm-head=float or int8,embeddings=int8 change what else is; lm-head=int8 quantizes an "
            + "int4 checkpoint's LM head alone (CPU, float32 too). Default: ${DEFAULT-VALUE}.")
    String quantization;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of dummy weights. Default: ${DEFAULT-VALUE}.")
    long seed;

    public ModelLoadOptions toLoadOptions(Path directory) {
        return new ModelLoadOptions(directory, LoadFormat.parse(loadFormat), ComputeTarget.resolve(device, dtype), maxModelLength, seed)
                .withQuantization(Quantization.parse(quantization));
    }
}
