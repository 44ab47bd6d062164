package io.spillway.models.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.JniUtils;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A TorchScript module compiled by libtorch from source text, with no Python anywhere: the text is
 * packed into the archive layout {@code torch.jit.load} reads (the class's code, a pickled instance
 * with no attributes but {@code training = False}, an empty constants table) and loaded through DJL.
 *
 * <p>The module holds no tensors: everything it works on is passed to each call, so one module
 * serves any device. Its native handle is released by {@link #close}.
 */
public final class TorchScriptModule implements AutoCloseable {

    /** The archive format version of libtorch 2.x's writer; its reader accepts it. */
    private static final String FORMAT_VERSION = "3\n";

    private final PtSymbolBlock block;

    private TorchScriptModule(PtSymbolBlock block) {
        this.block = block;
    }

    /**
     * Compiles {@code source}, whose classes and functions live in the {@code __torch__} namespace,
     * and instantiates {@code rootClass} (a {@code Module} subclass declared in it).
     *
     * @param manager where the module is loaded (its device decides where tensors are expected)
     * @throws IllegalStateException naming the class when libtorch rejects the source
     */
    public static TorchScriptModule compile(NDManager manager, String rootClass, String source) {
        byte[] archive = archive(rootClass, source);
        try (InputStream in = new ByteArrayInputStream(archive)) {
            return new TorchScriptModule(JniUtils.loadModule((PtNDManager) manager, in, false, false));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw new IllegalStateException("libtorch could not compile TorchScript class " + rootClass + ": " + e.getMessage(), e);
        }
    }

    /** Loads a source file shipped as a class-path resource next to {@code anchor}. */
    public static String resource(Class<?> anchor, String name) {
        try (InputStream in = anchor.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("resource " + name + " is missing beside " + anchor.getName());
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs {@code forward} (without autograd); the caller owns (and closes) the arguments and the
     * result.
     *
     * <p>In libtorch's plain interpreter, not its optimizing executor: that one specializes the
     * graph to the tensor shapes it profiled (and on a GPU compiles fused kernels for them), and a
     * serving engine's shapes change every step with the batch. On the CPU the plain interpreter
     * measured as fast. The switch is per thread, so it is set on the calling thread every time.
     */
    public IValue forward(IValue... arguments) {
        JniUtils.setGraphExecutorOptimize(false);
        return block.forward(arguments);
    }

    /**
     * Runs {@code forward} with {@code call}'s components as its first arguments ({@link
     * ScriptArguments}: the native values are made for this call and released after it), then
     * {@code bound} ones the caller made once and owns.
     *
     * @return the tensor {@code forward} returns, attached to {@code owner}
     */
    public NDArray forward(Record call, NDManager owner, IValue... bound) {
        try (ScriptArguments arguments = new ScriptArguments()) {
            List<IValue> values = arguments.components(call);
            values.addAll(List.of(bound));
            try (IValue out = forward(values.toArray(IValue[]::new))) {
                return out.toTensor((PtNDManager) owner);
            }
        }
    }

    /**
     * As {@link #forward(Record, NDManager, IValue...)}, for a {@code forward} that returns a list
     * of tensors.
     *
     * @return the tensors, in the script's order, attached to {@code owner}
     */
    public NDArray[] forwardList(Record call, NDManager owner, IValue... bound) {
        try (ScriptArguments arguments = new ScriptArguments()) {
            List<IValue> values = arguments.components(call);
            values.addAll(List.of(bound));
            try (IValue out = forward(values.toArray(IValue[]::new))) {
                return out.toTensorArray((PtNDManager) owner);
            }
        }
    }

    private static byte[] archive(String rootClass, String source) {
        String root = "module/";
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            store(zip, root + "version", FORMAT_VERSION.getBytes(StandardCharsets.US_ASCII));
            store(zip, root + "byteorder", "little".getBytes(StandardCharsets.US_ASCII));
            store(zip, root + "code/__torch__.py", source.getBytes(StandardCharsets.UTF_8));
            store(zip, root + "constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
            store(zip, root + "data.pkl", instancePickle(rootClass));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /**
     * Pickle protocol 2 for {@code __torch__.<rootClass>()} with state {@code {"training": False}}:
     * GLOBAL, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, MARK, BINUNICODE "training", NEWFALSE, SETITEMS, BUILD, STOP.
     */
    private static byte[] instancePickle(String rootClass) {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80);
        p.write(2);
        p.writeBytes(("c__torch__\n" + rootClass + "\n").getBytes(StandardCharsets.US_ASCII));
        p.writeBytes(new byte[] {')', (byte) 0x81, '}', '(', 'X', 8, 0, 0, 0});
        p.writeBytes("training".getBytes(StandardCharsets.US_ASCII));
        p.writeBytes(new byte[] {(byte) 0x89, 'u', 'b', '.'});
        return p.toByteArray();
    }

    /** Stored uncompressed, as torch.jit.save writes its records. */
    private static void store(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry entry = new ZipEntry(name);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(data);
        zip.closeEntry();
    }

    @Override
    public void close() {
        block.close();
    }
}
