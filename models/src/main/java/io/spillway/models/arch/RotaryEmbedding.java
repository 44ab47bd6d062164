package io.spillway.models.arch;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import io.spillway.models.checkpoint.RopeScaling;
import java.util.function.UnaryOperator;

/**
 * Rotary position embedding in Hugging Face's rotate-half convention: dimension i of a head
 * rotates with dimension i + d/2, {@code x * cos + rotate_half(x) * sin} where
 * {@code rotate_half(x) = [-x2, x1]}. The sign of rotate_half is folded into a precomputed
 * "signed sine" table, so a rotation (the decoder script's {@code rotate}) costs one concat, two
 * multiplies and an add.
 *
 * <p>Tables cover every position up to the model's context length and are computed once in
 * float64 (then rounded to the model dtype), with the config's frequency rescaling applied.
 */
final class RotaryEmbedding {

    private final NDArray cos;
    private final NDArray signedSin;

    /** @param toModelDtype rounds a float64 table to the model's dtype as DJL holds it */
    RotaryEmbedding(int headDim, double theta, RopeScaling scaling, int maxPositions, UnaryOperator<NDArray> toModelDtype, Device device,
                    NDManager owner) {
        int half = headDim / 2;
        try (NDManager cpu = owner.newSubManager(Device.cpu())) {
            double[] inv = scaling.inverseFrequencies(headDim, theta);
            double[] positions = new double[maxPositions];
            for (int p = 0; p < maxPositions; p++) {
                positions[p] = scaling.scaledPosition(p);
            }
            NDArray angles = cpu.create(positions).reshape(maxPositions, 1).matMul(cpu.create(inv).reshape(1, half));
            NDArray c = angles.cos();
            NDArray s = angles.sin();
            NDArray cosTable = NDArrays.concat(new NDList(c, c), 1);
            NDArray sinTable = NDArrays.concat(new NDList(s.neg(), s), 1);
            this.cos = owned(toModelDtype.apply(cosTable), device, owner);
            this.signedSin = owned(toModelDtype.apply(sinTable), device, owner);
        }
    }

    private static NDArray owned(NDArray table, Device device, NDManager owner) {
        NDArray out = table.toDevice(device, false);
        out.attach(owner);
        return out;
    }

    /** {@code cos(position * frequency)} per position, {@code [maxPositions, headDim]}. */
    NDArray cos() {
        return cos;
    }

    /** The matching sines, negated over the first half of each row (rotate_half's sign). */
    NDArray signedSin() {
        return signedSin;
    }
}
