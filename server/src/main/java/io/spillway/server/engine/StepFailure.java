package io.spillway.server.engine;

import java.util.List;
import java.util.Locale;

/**
 * What a failed step says about the device, read from libtorch's message as DJL's JNI rethrows it
 * (an {@code EngineException} carrying the C++ error's text, or anything with it as a cause).
 *
 * <p>The engine acts on the kind: a step that ran out of memory is retried in smaller parts, so
 * only a sequence that cannot fit alone fails; a lost device cannot run anything again in this
 * process (CUDA errors of this kind are sticky: every later call on the context fails), so the
 * engine stops serving and says so on {@code /ready}; anything else fails the step's requests.
 */
sealed interface StepFailure {

    /** libtorch's text (the first message in the cause chain that decided the kind). */
    String message();

    /** The message's first line: libtorch appends advice on CUDA_LAUNCH_BLOCKING and the like. */
    default String summary() {
        int end = message().indexOf('\n');
        return (end < 0 ? message() : message().substring(0, end)).strip();
    }

    /** The metric label. */
    default String kind() {
        return switch (this) {
            case OutOfMemory o -> "out_of_memory";
            case DeviceLost d -> "device_lost";
            case Other o -> "other";
        };
    }

    /** The allocator could not satisfy a request: smaller work may fit. */
    record OutOfMemory(String message) implements StepFailure {
    }

    /** The device's context is corrupt or the hardware failed: nothing on it can run again. */
    record DeviceLost(String message) implements StepFailure {
    }

    /** Neither: a bug or bad input, local to the step. */
    record Other(String message) implements StepFailure {
    }

    /**
     * CUDA's sticky errors as libtorch words them ({@code cudaGetErrorString} after "CUDA error: "):
     * illegal access, device assert, launch failure or timeout, illegal or misaligned instruction,
     * hardware stack error, uncorrectable ECC error. All poison the context until the process ends.
     */
    List<String> DEVICE_LOST = List.of("illegal memory access", "device-side assert triggered", "unspecified launch failure",
            "illegal instruction", "misaligned address", "launch timed out", "hardware stack error", "ecc error");

    /**
     * The caching allocator's "CUDA out of memory", a raw "CUDA error: out of memory", MPS's "MPS
     * backend out of memory", the CPU allocator's "can't allocate memory" (POSIX) and "not enough
     * memory" (Windows), and cuBLAS or cuDNN failing to allocate their workspaces.
     */
    List<String> OUT_OF_MEMORY = List.of("out of memory", "can't allocate memory", "not enough memory: you tried to allocate",
            "_status_alloc_failed");

    static StepFailure of(Throwable failure) {
        StepFailure found = null;
        for (Throwable t = failure; t != null && found == null; t = t.getCause() == t ? null : t.getCause()) {
            found = classify(t.getMessage());
        }
        if (found != null) {
            return found;
        }
        String message = failure.getMessage();
        return new Other(message != null ? message : failure.getClass().getName());
    }

    private static StepFailure classify(String message) {
        if (message == null) {
            return null;
        }
        String lower = message.toLowerCase(Locale.ROOT);
        // A lost device first: after one, allocations fail too, and splitting would only repeat the failure.
        if (DEVICE_LOST.stream().anyMatch(lower::contains)) {
            return new DeviceLost(message);
        }
        if (OUT_OF_MEMORY.stream().anyMatch(lower::contains)) {
            return new OutOfMemory(message);
        }
        return null;
    }
}
