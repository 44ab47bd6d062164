package io.spillway.models.runtime;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the memory of freed tensors in the process instead of handing it back to the kernel
 * after every op.
 *
 * <p>libtorch's CPU allocator has no cache: every tensor goes back to {@code malloc} when it dies.
 * glibc serves blocks above its mmap threshold with fresh mappings and trims the top of its heap
 * above its trim threshold, so a step's large temporaries (a layer's gathered KV context, its
 * attention scores, MLP activations) fault their pages in, each zeroed by the kernel, on every
 * step. Measured here on one batch-16 decode step's attention at context 512 (30 layers): 280-400
 * ms, 70-80 ms with the thresholds fixed; the gather alone went from 8.1 ms a layer to a fraction.
 *
 * <p>So the mmap threshold is fixed at glibc's 64-bit maximum, 32 MiB, and the trim threshold at
 * 1 GiB. Threads other than the process's first (the engine's among them) allocate from thread
 * arenas, whose heaps hold 64 MiB each; glibc unmaps such a heap once everything in it is freed
 * and the heap before it has more free at its end than the top pad, whatever the trim threshold.
 * A step that spans several heaps then faults them in again at the next step. The top pad is
 * therefore 256 MiB, past any heap, which keeps them: measured here on SmolLM2-135M's float32
 * decode step at 16 sequences of 2,048 tokens (its gathered contexts split below 16 MiB), 230-370
 * ms against 1.7-3.2 s without it. The top pad also rounds up the main heap's growth, and makes a
 * new thread-arena heap writable whole: address space the kernel backs only when touched under its
 * default overcommit, but charged up front under {@code vm.overcommit_memory=2} or counted against
 * an {@code RLIMIT_AS}. Freed memory then stays in the process for the next step: resident
 * memory plateaus at the largest step's working set, which a serving process reaches anyway. It is
 * the usual advice of running PyTorch on CPUs under jemalloc or tcmalloc, without preloading a
 * library.
 *
 * <p>Only on Linux with glibc; elsewhere nothing changes. An operator's own
 * {@code MALLOC_MMAP_THRESHOLD_}, {@code MALLOC_TRIM_THRESHOLD_} or {@code MALLOC_TOP_PAD_}, or
 * any {@code glibc.malloc} tunable in {@code GLIBC_TUNABLES}, leaves all three to the operator.
 */
final class NativeAllocator {

    private static final Logger LOG = LoggerFactory.getLogger(NativeAllocator.class);

    /** glibc's malloc.h parameter numbers. */
    private static final int M_TRIM_THRESHOLD = -1;
    private static final int M_TOP_PAD = -2;
    private static final int M_MMAP_THRESHOLD = -3;
    private static final int MMAP_THRESHOLD_BYTES = 32 << 20;
    private static final int TRIM_THRESHOLD_BYTES = 1 << 30;
    private static final int TOP_PAD_BYTES = 256 << 20;

    private NativeAllocator() {
    }

    private interface GlibcMalloc extends Library {
        int mallopt(int param, int value);
    }

    /** Applies the settings once; true when glibc took them all. */
    static boolean keepFreedMemory() {
        if (!Platform.isLinux() || System.getenv("MALLOC_MMAP_THRESHOLD_") != null || System.getenv("MALLOC_TRIM_THRESHOLD_") != null
                || System.getenv("MALLOC_TOP_PAD_") != null || String.valueOf(System.getenv("GLIBC_TUNABLES")).contains("glibc.malloc.")) {
            return false;
        }
        try {
            GlibcMalloc libc = Native.load(Platform.C_LIBRARY_NAME, GlibcMalloc.class);
            boolean applied = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
                    && libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
                    && libc.mallopt(M_TOP_PAD, TOP_PAD_BYTES) == 1;
            if (!applied) {
                LOG.warn("glibc refused the malloc settings; large CPU tensors will fault their pages in every step");
            }
            return applied;
        } catch (UnsatisfiedLinkError e) {
            // Not glibc (musl has no mallopt): its allocator behaves differently; leave it alone.
            LOG.debug("no mallopt in this C library: {}", e.getMessage());
            return false;
        }
    }
}
