package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.ScriptType;
import java.util.ArrayList;
import java.util.List;

/**
 * A float32 CPU model's projections packed in oneDNN's blocked layout: the decoder script's
 * {@code onednn} list (four per layer, qkv, o, gate-up, down, then the LM head), which passes of
 * two rows or more multiply by; empty unless the layout is
 * {@link ProjectionLayout#ROW_BLOCKS_AND_ONEDNN} and the model a float checkpoint's, unquantized, in
 * float32 on the CPU. It is a second copy: one-row passes (batch-1 decode) keep the row blocks'
 * batched matmul, which reads the plain weight faster than oneDNN reads its packed one there.
 *
 * <p>An entry is the packed weight, or an empty tensor where the packer refused the packing
 * because its products were wrong (see {@code OneDnnPacker} in the script); such a projection runs
 * as in {@link ProjectionLayout#ROW_BLOCKS}, and the load summary counts it.
 *
 * <p>Why: over a plain weight oneDNN reorders it in every call; packed once, a 16-row decode step
 * of the SmolLM2-135M shape took 69 ms instead of 109 ({@link Projection} has the measurements).
 */
@ScriptType("List[Tensor]")
public final class OneDnnWeights extends PackedProjections {

    /** {@code OneDnnPacker.forward}: float32 weights {@code [out, in]}, one per call. */
    public record OneDnnPackCall(List<NDArray> weights) {
    }

    private OneDnnWeights(IValue list, List<Shape> shapes, long bytes) {
        super(list, shapes, bytes);
    }

    /** The empty list of a model that packs nothing for oneDNN; a list of tensors is typed without a script. */
    static OneDnnWeights none() {
        return new OneDnnWeights(IValue.listFrom(new PtNDArray[0]), List.of(), 0);
    }

    /** Packs projections one at a time. Holds the compiled packer until {@link #finish} or {@link #close}. */
    static final class Packer implements AutoCloseable {

        private final PackedListBuilder list;
        private final NDArray refused;
        private final List<Shape> shapes = new ArrayList<>();
        private long bytes;

        /** @param refused what stands for a refused packing: an empty float32 tensor the model owns */
        Packer(NDManager manager, NDArray refused) {
            this.list = new PackedListBuilder(manager, DecoderScript.Root.ONEDNN_PACKER);
            this.refused = refused;
        }

        /** Appends {@code weight} (float32 {@code [out, in]}, the model's) packed, or refused if its packing is wrong. */
        void add(NDArray weight) {
            Shape s = weight.getShape();
            if (list.addIfAny(new OneDnnPackCall(List.of(weight)), refused)) {
                shapes.add(s);
                bytes += s.size() * 4;
            } else {
                shapes.add(null);
            }
        }

        /** The packed list; the packer is closed. */
        OneDnnWeights finish() {
            try {
                return new OneDnnWeights(list.finish(new OneDnnPackCall(List.of())), new ArrayList<>(shapes), bytes);
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            list.close();
        }
    }
}
