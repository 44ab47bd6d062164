package io.spillway.models.runtime;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * The process-wide PyTorch engine. libtorch's thread pools are per process, so this is the one
 * place that configures them: intra-op threads default to the available cores (DJL's default of
 * one thread leaves half of a two-core box idle in every matmul), inter-op threads to one, since
 * Spillway never runs independent ops concurrently. Loading it also tunes the C allocator for
 * tensor memory ({@link NativeAllocator}).
 *
 * <p>Threads must be set through system properties before the engine loads; calling
 * {@link JniUtils} first fails with an UnsatisfiedLinkError.
 */
public final class TorchRuntime {

    private static final String THREADS = "ai.djl.pytorch.num_threads";
    private static final String INTEROP_THREADS = "ai.djl.pytorch.num_interop_threads";

    private TorchRuntime() {
    }

    /** Initialized, and so applied, once: on first use of the engine. */
    private static final class Allocator {
        static final boolean KEEPS_FREED_MEMORY = NativeAllocator.keepFreedMemory();
    }

    /** Whether freed tensor memory stays in the process ({@link NativeAllocator}); false off glibc. */
    public static boolean allocatorKeepsFreedMemory() {
        return Allocator.KEEPS_FREED_MEMORY;
    }

    /** The engine, loaded on first use with Spillway's thread defaults unless the user set them. */
    public static Engine engine() {
        allocatorKeepsFreedMemory();
        if (System.getProperty(THREADS) == null) {
            System.setProperty(THREADS, Integer.toString(Runtime.getRuntime().availableProcessors()));
        }
        if (System.getProperty(INTEROP_THREADS) == null) {
            System.setProperty(INTEROP_THREADS, "1");
        }
        return Engine.getEngine("PyTorch");
    }

    /**
     * Sets the intra-op thread count of the calling thread's ops (libtorch's OpenMP team is per
     * thread that runs ops). Call it on the thread that will load and run a model, before loading:
     * CPU weights are partitioned by this count.
     */
    public static void setIntraOpThreads(int threads) {
        engine();
        JniUtils.setNumThreads(threads);
    }

    /** libtorch's intra-op thread count, which decides how CPU weights are partitioned. */
    public static int intraOpThreads() {
        engine();
        return JniUtils.getNumThreads();
    }
}
