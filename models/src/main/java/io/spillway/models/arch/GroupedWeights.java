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
 * A model's projections quantized in groups along their inputs, packed for a kernel: the decoder
 * script's {@code grouped} list, four per layer (qkv, o, gate-up, down) like {@link Int8Weights},
 * then the LM head's when it is int8 and Spillway's kernel runs it. Either an int4 checkpoint's
 * layers (an empty entry where a projection was dequantized to a float weight instead, {@link
 * Int4Fit}) or a float checkpoint's quantized to int8 on load ({@link Int8Quantizer#blocksOf32}).
 * Empty in every other model.
 *
 * <p>An int4 entry in {@link QuantizedKernels#LIBTORCH}'s layout is libtorch's packed weight, its
 * bfloat16 scales and zeros {@code [groups, out, 2]} and whether the script can read the packed
 * weight back for a dense matmul at many rows (see {@code grouped_project}); in {@link
 * QuantizedKernels#SPILLWAY}'s, Spillway's weight for {@code spillway::int4_linear} and its float32
 * scales and offsets {@code [2, groups, out]}. An int8 entry, Spillway's only, is the weight for
 * {@code spillway::int8_linear} and its float32 scales {@code [blocks of 32 inputs, out]}. The
 * entries live only on the native side (DJL cannot hold LIBTORCH's bfloat16 scales).
 */
@ScriptType("List[Tuple[Tensor, Tensor, bool]]")
public final class GroupedWeights extends PackedProjections {

    /**
     * Rows from which the script multiplies a readable projection densely: the literal in
     * {@code grouped_project}, which {@code Int4DenseProjectionTest} holds to this value.
     */
    static final int DENSE_ROWS = 192;

    /** Of the packed entries, those grouped_project may dequantize for a dense matmul. */
    private final int readable;
    /** How every packed entry is laid out. */
    private final QuantizedKernels layout;

    /** What the load summary and {@code /v1/models} name as the kernel of int8 entries. */
    static final String INT8_KERNEL = "spillway int8_linear (weights int8 per 32 inputs, activations int8 and residual int8 per 32"
            + " inputs, AVX-512 VNNI)";

    /** What the load summary and {@code /v1/models} name as the kernel of the packed int4 projections, by device and layout. */
    String int4Kernel(ComputeTarget target) {
        if (target.isGpu()) {
            return "aten _weight_int4pack_mm";
        }
        if (layout == QuantizedKernels.SPILLWAY) {
            return "spillway int4_linear (activations int8 and residual int8 per 32 inputs, AVX-512 VNNI)";
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
    public record Int4PackCall(List<NDArray> values, List<NDArray> scales, List<NDArray> zeros, QuantizedKernels layout) {
    }

    /** {@code Int8GroupPacker.forward}: per projection int8 values {@code [out, padded]} and float32 scales {@code [out, padded / 32]}. */
    public record Int8GroupPackCall(List<NDArray> values, List<NDArray> scales) {
    }

    private GroupedWeights(IValue list, List<Shape> shapes, long bytes, int readable, QuantizedKernels layout) {
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
        private final QuantizedKernels layout;
        private final NDManager none;
        private final List<Shape> shapes = new ArrayList<>();
        private long bytes;
        private int readable;

        /** Packs in {@code layout}, which {@link QuantizedKernels#forTarget} allows on {@code target}. */
        Packer(NDManager manager, ComputeTarget target, QuantizedKernels layout) {
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
            bytes += m.values().getShape().size() / 2 + m.scales().getShape().size() * 2 * (layout == QuantizedKernels.SPILLWAY ? 4 : 2);
        }

        /**
         * Appends {@code weight} (float, {@code [out, in]}) quantized to int8 in blocks of 32 inputs for
         * {@code spillway::int8_linear}, which the packer's layout must be.
         */
        void addInt8(NDArray weight) {
            if (layout != QuantizedKernels.SPILLWAY) {
                throw new IllegalStateException("int8 in blocks of 32 inputs runs on Spillway's kernel only, not " + layout + "'s");
            }
            Int8Quantizer.Int8Blocks q = Int8Quantizer.blocksOf32(weight);
            try {
                list.add(DecoderScript.Root.INT8_GROUP_PACKER, new Int8GroupPackCall(List.of(q.values()), List.of(q.scales())));
                Shape s = weight.getShape();
                shapes.add(s);
                // The layout pads the outputs to a multiple of 16.
                long paddedOutputs = (s.get(0) + 15) / 16 * 16;
                bytes += paddedOutputs * q.values().getShape().get(1) + 4 * q.scales().getShape().size();
            } finally {
                q.close();
            }
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
        GroupedWeights finish() {
            try {
                return new GroupedWeights(list.finish(new Int4PackCall(List.of(), List.of(), List.of(), layout)), new ArrayList<>(shapes), bytes,
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
