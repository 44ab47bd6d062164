package io.spillway.models.runtime;

import ai.djl.ndarray.types.DataType;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Spillway's own CPU operators ({@code models/src/main/native}), registered with
 * the process's libtorch as {@code ops.spillway.*} for the decoder's script to call.
 *
 * <p>The build compiles them into this jar on Linux x86-64. They are registered once per process,
 * after the engine has loaded libtorch: the library is copied out of the jar, loaded through JNA,
 * and registers itself through libtorch's stable C ABI. Anywhere that fails (another platform, a
 * libtorch older than 2.7), {@link #registration()} says why, the load log says so once, and the
 * decoder's script keeps libtorch's ops ({@code without-native-operators.torchscript}).
 */
public final class NativeOperators {

    private static final Logger LOG = LoggerFactory.getLogger(NativeOperators.class);

    /** The library's resource, beside this class: the build writes it there for this platform only. */
    static final String LIBRARY = "linux-x86_64/libspillway_ops.so";

    private NativeOperators() {
    }

    /** Whether the operators are registered in this process, and if not, why. */
    public sealed interface Registration {
        /**
         * {@code ops.spillway.*} are callable from scripts compiled in this process.
         *
         * @param parallel       whether decode_attention, int4_linear and int8_linear spread their work
         *                       over libtorch's OpenMP threads (found through libtorch's own libgomp) or
         *                       run on the calling thread; the other operators' rows are too short to share
         * @param integerKernels whether this CPU runs {@code spillway::int4_linear} and {@code int8_linear}
         *                       (they need AVX-512 VNNI; elsewhere they refuse and quantized projections
         *                       keep libtorch's kernels)
         */
        record Registered(boolean parallel, boolean integerKernels) implements Registration {
        }

        /** They are not; {@code reason} says why. */
        record Unavailable(String reason) implements Registration {
        }
    }

    /** The library's C entry points. */
    private interface Entry extends Library {
        /** Registers every operator; null, or why it could not. */
        String spillway_register_operators();

        /** 1 where the operators found libtorch's OpenMP threads, 0 where they run on the calling thread. */
        int spillway_operators_parallel();

        /** 1 where this CPU runs spillway::int4_linear and int8_linear, 0 where they refuse. */
        int spillway_integer_kernels_supported();
    }

    /**
     * The registration, and the loaded library: held for the life of the process, since libtorch
     * keeps pointers to the operators and JNA would unmap a library nothing references.
     */
    private record Loaded(Registration registration, Entry library) {
    }

    /** Registered once, on first use, after the engine (and so libtorch) has loaded. */
    private static final class Once {
        static final Loaded LOADED = load();
    }

    /** The process's registration, made on first call. */
    public static Registration registration() {
        return Once.LOADED.registration();
    }

    /** Whether {@code ops.spillway.*} are registered in this process. */
    public static boolean registered() {
        return registration() instanceof Registration.Registered;
    }

    /**
     * Whether the operators serve a model on {@code target}: on the CPU, in float32 (the dtype they
     * take), registered here. The target is looked at first, so a GPU's never loads them.
     */
    public static boolean serve(ComputeTarget target) {
        return !target.isGpu() && target.dtype() == DataType.FLOAT32 && registered();
    }

    /** Whether {@code spillway::int4_linear} and {@code int8_linear} serve {@code target}: as {@link #serve}, on a CPU with AVX-512 VNNI. */
    public static boolean serveQuantized(ComputeTarget target) {
        return serve(target) && registration() instanceof Registration.Registered registered && registered.integerKernels();
    }

    private static Loaded load() {
        Loaded loaded;
        try {
            TorchRuntime.engine();
            loaded = tryLoad();
        } catch (RuntimeException | LinkageError e) {
            // Whatever failed here would fail the model's load too, with its own message; this one
            // must not turn into a NoClassDefFoundError for every later caller.
            loaded = unavailable("libtorch did not load: " + e);
        }
        switch (loaded.registration()) {
            case Registration.Registered registered -> LOG.info("native operators: spillway::decode_attention, int4_linear, int8_linear, rms_norm, rotate_and_store and swiglu"
                            + " registered, {}; {}",
                    registered.parallel() ? "on libtorch's OpenMP threads" : "on the calling thread (no libgomp in this libtorch)",
                    registered.integerKernels() ? "int4_linear and int8_linear run on this CPU (AVX-512 VNNI)"
                            : "this CPU has no AVX-512 VNNI: quantized projections keep libtorch's kernels");
            case Registration.Unavailable unavailable when !builtForThisPlatform() ->
                    LOG.info("native operators: {}; CPU decodes, quantized projections, norms, RoPE and SwiGLU keep libtorch's ops",
                            unavailable.reason());
            case Registration.Unavailable unavailable ->
                    LOG.warn("native operators: not registered ({}); CPU decodes, quantized projections, norms, RoPE and SwiGLU keep libtorch's ops",
                            unavailable.reason());
        }
        return loaded;
    }

    private static boolean builtForThisPlatform() {
        return Platform.isLinux() && Platform.isIntel() && Platform.is64Bit();
    }

    private static Loaded tryLoad() {
        if (!builtForThisPlatform()) {
            return unavailable("none are built for " + System.getProperty("os.name") + " on " + System.getProperty("os.arch"));
        }
        Path copy;
        try (InputStream library = NativeOperators.class.getResourceAsStream(LIBRARY)) {
            if (library == null) {
                return unavailable("this build carries no " + LIBRARY);
            }
            copy = Files.createTempFile("spillway-ops", ".so");
            try {
                Files.copy(library, copy, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                Files.deleteIfExists(copy);
                throw e;
            }
        } catch (IOException e) {
            return unavailable("cannot copy " + LIBRARY + " out of the jar: " + e);
        }
        try {
            // Once loaded, the file is no longer needed: the mapping outlives it.
            Entry entry = Native.load(copy.toString(), Entry.class);
            String refused = entry.spillway_register_operators();
            Registration registration = refused == null
                    ? new Registration.Registered(entry.spillway_operators_parallel() == 1, entry.spillway_integer_kernels_supported() == 1)
                    : new Registration.Unavailable(refused);
            return new Loaded(registration, entry);
        } catch (UnsatisfiedLinkError e) {
            return unavailable("cannot load " + LIBRARY + ": " + e.getMessage());
        } finally {
            try {
                Files.deleteIfExists(copy);
            } catch (IOException e) {
                LOG.debug("cannot delete {}: {}", copy, e.getMessage());
            }
        }
    }

    private static Loaded unavailable(String reason) {
        return new Loaded(new Registration.Unavailable(reason), null);
    }
}
