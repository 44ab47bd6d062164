package io.spillway.models.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Platform;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NativeAllocatorTest {

    @Test
    void glibcTakesTheThresholdsWhenTheEngineLoads() {
        assumeTrue(Platform.isLinux() && System.getenv("MALLOC_MMAP_THRESHOLD_") == null
                && System.getenv("MALLOC_TRIM_THRESHOLD_") == null, "Linux without the operator's own thresholds");
        assumeTrue(Files.exists(Path.of("/lib/x86_64-linux-gnu/libc.so.6")) || Files.exists(Path.of("/lib64/libc.so.6")),
                "a glibc system");
        TorchRuntime.engine();
        assertTrue(TorchRuntime.allocatorKeepsFreedMemory(), "mallopt was not applied through JNA");
    }
}
