package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.runtime.ScriptType;
import java.util.ArrayList;
import java.util.List;

/**
 * An int4 checkpoint's layer projections packed for an int4 kernel: the decoder script's {@code int4}
 * list, four per layer (qkv, o, gate-up, down) like {@link Int8Weights}; an empty entry where a
 * projection was dequantized to a float weight instead ({@link Int4Fit}). Empty in every other
 * model. In {@link Int4Layout#LIBTORCH} an entry is libtorch's packed weight, its bfloat16 scales
 * and zeros {@code [groups, out, 2]} and whether the script can read the packed weight back for a
 * dense matmul at many rows (see {@code int4_project}); in {@link Int4Layout#SPILLWAY} Spillway's
 * weight for {@code spillway::int4_linear} and its float32 scales and offsets {@code [2, groups,
 * out]}. The entries live only on the native side (DJL cannot hold LIBTORCH's bfloat16 scales).
 */
@ScriptType("List[Tuple[Tensor, Tensor, bool]]")
public final class Int4Weights extends PackedProjections {

    /**
     * Rows from which the script multiplies a readable projection densely: the literal in
     * {@code int4_project}, which {@code Int4DenseProjectionTest} holds to this value.
     */
    static final int DENSE_ROWS = 192;

    /** Of the packed entries, those int4_project may dequantize for a dense matmul. */
    private final int readable;
    /** How every packed entry is laid out. */
    private final Int4Layout layout;

    /** What the load summary and {@code /v1/models} name as the kernel of the packed projections, by device and layout. */
    String kernel(ComputeTarget target) {
        if (target.isGpu()) {
            return "aten _weight_int4pack_mm";
        }
        if (layout == Int4Layout.SPILLWAY) {
            return "spillway int4_linear (activations int8 per 32 inputs, AVX-512 VNNI)";
        }
        String kernel = "aten _weight_int4pack_mm_for_cpu";
        if (readable == 0) {
            return kernel;
        }
        return kernel + " (from " + DENSE_ROWS + " rows: dequantized to bfloat16, mm"
                + (readable == packedCount() ? "" : ", for " + readable + " of its " + packedCount()) + ")";
    }

    /**
     * {@code Int4Packer.forward}: per projection int32 values {@code [out, in]}, scales and zero points
     * {@code [groups, out]}, and the layout to pack them in.
     */
    public record Int4PackCall(List<NDArray> values, List<NDArray> scales, List<NDArray> zeros, Int4Layout layout) {
    }

    private Int4Weights(IValue list, List<Shape> shapes, long bytes, int readable, Int4Layout layout) {
        super(list, shapes, bytes);
        this.readable = readable;
        this.layout = layout;
    }

    /**
     * Packs projections one at a time on the target device, so that each one's unpacked arrays can
     * be freed as soon as it is packed. Holds the compiled packer until {@link #finish} or {@link #close}.
     */
    static final class Packer implements AutoCloseable {

        private final PackedListBuilder list;
        private final ComputeTarget target;
        private final Int4Layout layout;
        private final NDManager none;
        private final List<Shape> shapes = new ArrayList<>();
        private long bytes;
        private int readable;

        /** Packs in {@code layout}, which {@link Int4Layout#forTarget} allows on {@code target}. */
        Packer(NDManager manager, ComputeTarget target, Int4Layout layout) {
            this.list = new PackedListBuilder(manager, DecoderScript.Root.INT4_PACKER);
            this.target = target;
            this.layout = layout;
            this.none = manager.newSubManager();
        }

        /** Appends {@code m}, whose group size the kernel takes ({@link Int4Fit.Packed}). */
        void add(Int4Matrix m) {
            try (NDManager moved = none.newSubManager()) {
                // The packer rounds scales and zeros to bfloat16 itself; a bfloat16 model's go in float32 (DJL
                // cannot make bfloat16), so they are rounded once.
                DataType scaleType = target.dtype() == DataType.BFLOAT16 ? DataType.FLOAT32 : target.dtype();
                IValue entry = list.add(new Int4PackCall(List.of(onTarget(m.values(), DataType.INT32, moved)),
                        List.of(onTarget(m.scales(), scaleType, moved)), List.of(onTarget(m.zeros(), scaleType, moved)), layout));
                IValue[] parts = entry.toIValueTuple();
                try {
                    readable += parts[2].toBoolean() ? 1 : 0;
                } finally {
                    for (IValue part : parts) {
                        part.close();
                    }
                }
            }
            shapes.add(m.values().getShape());
            // Scales and zeros (or offsets) are bfloat16 whatever the model's dtype, float32 in Spillway's layout.
            bytes += m.values().getShape().size() / 2 + m.scales().getShape().size() * 2 * (layout == Int4Layout.SPILLWAY ? 4 : 2);
        }

        /** Appends the empty entry of a projection that was dequantized instead. */
        void addDequantized() {
            NDArray empty = none.zeros(new Shape(0), DataType.INT32);
            list.add(new Int4PackCall(List.of(empty), List.of(empty), List.of(empty), layout));
            shapes.add(null);
        }

        /** {@code array} on the target device in {@code dtype}; a converted copy is freed with {@code moved}. */
        private NDArray onTarget(NDArray array, DataType dtype, NDManager moved) {
            NDArray converted = array.toDevice(target.device(), false).toType(dtype, false);
            if (converted != array) {
                converted.attach(moved);
            }
            return converted;
        }

        /** The packed list (empty in a float model); the packer is closed. */
        Int4Weights finish() {
            try {
                return new Int4Weights(list.finish(new Int4PackCall(List.of(), List.of(), List.of(), layout)), new ArrayList<>(shapes), bytes,
                        readable, layout);
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            list.close();
            none.close();
        }
    }
}
