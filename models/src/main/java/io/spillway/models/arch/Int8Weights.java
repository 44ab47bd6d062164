package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.ScriptType;
import java.util.ArrayList;
import java.util.List;

/**
 * A model's int8 projections, packed for fbgemm's dynamic quantized linear where Spillway's int8
 * kernel does not run ({@link QuantizedKernels#LIBTORCH}: no AVX-512 VNNI, or Spillway's operators
 * not registered; {@link GroupedWeights} holds its projections otherwise): the decoder script's
 * {@code packed} list (four per layer, qkv, o, gate-up, down, then the LM head's when it is int8; or
 * the LM head's alone beside an int4 checkpoint's layers),
 * empty in a float model. Each entry holds its int8 weight in fbgemm's blocked layout and its
 * per-channel scales and zero points ({@link Int8Quantizer#asymmetric}); nothing else keeps a copy
 * of them. Biases stay float tensors beside the (empty) weights: the script scales rows around the
 * kernel, and a bias must not be scaled.
 *
 * <p>Why this kernel (SmolLM2-135M shapes, 2 threads, all projections of a step, medians of 5
 * alternating rounds; see the commit that introduced it for the exact figures): at 1, 4, 16, 64 and
 * 512 rows fbgemm's {@code quantized::linear_dynamic} took a third to a sixth of the float32 row
 * blocks' time. libtorch's weight-only {@code _weight_int8pack_mm} with float32 activations was
 * 6x slower than float32 at one row (it has no vectorized float32 path on this CPU) and 25x at 16;
 * with bfloat16 activations it was close to fbgemm at one row but 4x slower at 64 rows and 3x
 * slower than float32 at 512. The price of fbgemm's kernel: it quantizes each call's input to
 * uint8 with one scale for all its rows, so the widest row of a prefill chunk or a batched step
 * would set every row's step; the script divides each row of a multi-row call by its largest
 * magnitude and multiplies the product back, so that every row keeps its own 8 bits (a row's
 * result can still move slightly with its neighbours, whose signs set the shared zero point).
 * That costs four ops a call on whole activations: a 512-token prefill of the SmolLM2-135M shape
 * took a median 803 ms against 699 without (+15 %; float32 1,830-1,920 ms), batch-16 and batch-1
 * decode steps were unchanged (68.5 against 71.6 ms, 17.1 against 19.3 ms; one-row calls skip it),
 * in 16 alternating runs of {@code QuantizedDecodeComparison} on a 2-core machine shared with
 * other benchmarks.
 *
 * <p>Accuracy on stories260K (docs/int8-accuracy.md, Int8Stories260KTest): KL to float32 per token
 * read token by token 41.3 mnat with symmetric weights and one scale per call, 37.2 with the rows
 * scaled, 33.8 with asymmetric weights too; read in prefills 49.1, 44.5, 29.3. What is left is
 * about half the weights' rounding and half the activations' (in a float64 model of the forward
 * pass, token by token: the asymmetric weights alone 14, the activations alone 15). Spillway's
 * kernel removes the activations' half (per 32 inputs, with a residual int8) and keeps a weight grid
 * about as good by KL (a scale per 32 inputs, 15.6 alone): KL 15.6 in all, and an NLL change of
 * -0.1 % where this path's is +5 %.
 */
@ScriptType("List[__torch__.torch.classes.quantized.LinearPackedParamsBase]")
public final class Int8Weights extends PackedProjections {

    /** What the load summary and {@code /v1/models} name as the kernel of int8 projections. */
    public static final String KERNEL = "fbgemm quantized::linear_dynamic";

    /** {@code Int8Packer.forward}: per projection int8 values {@code [out, in]}, float32 scales and int64 zero points {@code [out]}. */
    public record Int8PackCall(List<NDArray> values, List<NDArray> scales, List<NDArray> zeroPoints) {
    }

    private Int8Weights(IValue list, List<Shape> shapes, long bytes) {
        super(list, shapes, bytes);
    }

    /**
     * Packs projections one at a time, so that each one's float and int8 arrays can be freed as soon
     * as it is packed. Holds the compiled packer until {@link #finish} or {@link #close}.
     */
    static final class Packer implements AutoCloseable {

        private final PackedListBuilder list;
        private final List<Shape> shapes = new ArrayList<>();
        private long bytes;

        Packer(NDManager manager) {
            this.list = new PackedListBuilder(manager, DecoderScript.Root.INT8_PACKER);
        }

        /** Appends {@code weight} (float, {@code [out, in]}) quantized to {@code levels}. */
        void add(NDArray weight, int levels) {
            Int8Quantizer.Int8Matrix q = Int8Quantizer.asymmetric(weight, levels);
            list.add(new Int8PackCall(List.of(q.values()), List.of(q.scales()), List.of(q.zeroPoints())));
            Shape s = q.values().getShape();
            shapes.add(s);
            // fbgemm keeps a float scale and an int32 zero point per channel.
            bytes += s.size() + 8 * s.get(0);
            q.close();
        }

        /** The packed list (a float model's is empty); the packer is closed. */
        Int8Weights finish() {
            try {
                return new Int8Weights(list.finish(new Int8PackCall(List.of(), List.of(), List.of())), shapes, bytes);
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
