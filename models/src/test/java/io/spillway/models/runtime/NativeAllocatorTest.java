package io.spillway.models.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.sun.jna.Platform;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class NativeAllocatorTest {

    /** A step as ten layers, each holding four 20 MB tensors at once: more than a thread-arena heap, each under the mmap threshold. */
    private static final int LAYERS = 10;
    private static final int TENSORS_PER_LAYER = 4;
    private static final long TENSOR_FLOATS = 5L << 20;
    private static final long TENSOR_PAGES = TENSOR_FLOATS * Float.BYTES / 4096;

    @BeforeEach
    void onGlibcWithoutTheOperatorsOwnSettings() {
        assumeTrue(Platform.isLinux() && System.getenv("MALLOC_MMAP_THRESHOLD_") == null && System.getenv("MALLOC_TRIM_THRESHOLD_") == null
                && System.getenv("MALLOC_TOP_PAD_") == null && !String.valueOf(System.getenv("GLIBC_TUNABLES")).contains("glibc.malloc."),
                "Linux without the operator's own malloc settings");
        assumeTrue(Files.exists(Path.of("/lib/x86_64-linux-gnu/libc.so.6")) || Files.exists(Path.of("/lib64/libc.so.6")),
                "a glibc system");
    }

    @Test
    void glibcTakesTheSettingsWhenTheEngineLoads() {
        TorchRuntime.engine();
        assertTrue(TorchRuntime.allocatorKeepsFreedMemory(), "mallopt was not applied through JNA");
    }

    /**
     * A thread other than the process's first allocates from one of glibc's thread arenas, whose
     * heaps hold 64 MiB each. A layer that needs more than one, freed before the next, must find
     * them again rather than fault every page in afresh: counted as this thread's minor page faults
     * over the steps after the first two.
     */
    @Test
    void aThreadsLargeTemporariesReuseTheirPagesFromStepToStep() throws InterruptedException {
        TorchRuntime.engine();
        AtomicLong faults = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread engineLike = new Thread(() -> {
            try (NDManager manager = NDManager.newBaseManager()) {
                step(manager);
                step(manager);
                long before = minorFaultsOfThisThread();
                for (int i = 0; i < 5; i++) {
                    step(manager);
                }
                faults.set(minorFaultsOfThisThread() - before);
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "native-allocator-test");
        engineLike.start();
        engineLike.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertTrue(faults.get() < TENSOR_PAGES, "five steps of " + LAYERS + " layers' " + TENSORS_PER_LAYER + " tensors of "
                + TENSOR_PAGES + " pages faulted " + faults.get() + " pages in: freed heaps were handed back to the kernel");
    }

    /** One step's temporaries, layer by layer: a layer's all alive at once (written, so that their pages are touched), then freed. */
    private static void step(NDManager manager) {
        for (int layer = 0; layer < LAYERS; layer++) {
            try (NDManager temporaries = manager.newSubManager()) {
                for (int i = 0; i < TENSORS_PER_LAYER; i++) {
                    temporaries.ones(new Shape(TENSOR_FLOATS), DataType.FLOAT32);
                }
            }
        }
    }

    /** minflt of /proc/thread-self/stat: the fields after the command's closing parenthesis, the eighth. */
    private static long minorFaultsOfThisThread() {
        try {
            String stat = Files.readString(Path.of("/proc/thread-self/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[7]);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
