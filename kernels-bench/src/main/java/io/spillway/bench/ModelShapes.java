package io.spillway.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.DummyShapes;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.runtime.ComputeTarget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Realistic model shapes with random weights, so benchmarks need no checkpoint download. */
public final class ModelShapes {

    private ModelShapes() {
    }

    /** How to load a random-weight model of this shape in float32 on the CPU. */
    public static ModelLoadOptions options(ObjectNode config) {
        return DummyShapes.options(config, ComputeTarget.cpuFloat32());
    }

    /**
     * Loads it on the calling thread. Benchmarks that run the model directly load and run it on the
     * same (JMH) thread: libtorch gives each thread running ops its own OpenMP team.
     */
    public static LoadedModel load(ObjectNode config) {
        return LoadedModel.load(options(config));
    }

    /** Resident set size of this process in MiB, from /proc (Linux). */
    public static long residentMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (IOException ignored) {
            // Not Linux: no figure.
        }
        return -1;
    }
}
