package io.spillway.models.arch;

import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.NativeScriptValue;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A model's projections packed for one weight-only kernel: the native list the decoder script
 * takes, one entry per projection in the script's order, with what Java needs to know of them
 * (shapes and bytes, and whatever a packer noted of an entry as it made it) kept beside it, so that
 * nothing reads the finished list back.
 *
 * <p>The native list is this object's; {@link #close} releases it (the model does).
 */
abstract sealed class PackedProjections implements NativeScriptValue, AutoCloseable permits GroupedWeights, Int8Weights, OneDnnWeights {

    private final IValue list;
    /** Per entry its {@code [out, in]}; null where a subclass lets an entry stay unpacked. */
    private final List<Shape> shapes;
    private final long bytes;

    PackedProjections(IValue list, List<Shape> shapes, long bytes) {
        this.list = list;
        this.shapes = Collections.unmodifiableList(new ArrayList<>(shapes));
        this.bytes = bytes;
    }

    @Override
    public final IValue value() {
        return list;
    }

    /** Entries, in the script's order. */
    public final int size() {
        return shapes.size();
    }

    /**
     * Whether entry {@code i} holds its projection packed; where a subclass lets one stay unpacked
     * (an int4 projection dequantized, a oneDNN packing refused), it runs on a float weight and
     * {@link #shape} is null.
     */
    public final boolean packed(int i) {
        return shape(i) != null;
    }

    /** Entries that hold their projection packed. */
    public final int packedCount() {
        int n = 0;
        for (int i = 0; i < size(); i++) {
            n += packed(i) ? 1 : 0;
        }
        return n;
    }

    /** Entry {@code i}'s weight shape, {@code [out, in]}. */
    public final Shape shape(int i) {
        return shapes.get(i);
    }

    /** Bytes the kernel's packed values and their scales and zero points take. */
    public final long bytes() {
        return bytes;
    }

    @Override
    public final void close() {
        list.close();
    }
}
