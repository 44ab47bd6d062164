package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import java.util.List;

/**
 * One int4 projection, unpacked from its checkpoint layout into the one form every later step
 * takes: {@code w[o, i] = (values[o, i] - zeros[g, o]) * scales[g, o]} with {@code g = i / groupSize}.
 * The arrays belong to the caller's scratch manager.
 *
 * @param values    int32 {@code [out, in]}, each in 0..15
 * @param scales    float32 {@code [in / groupSize, out]}
 * @param zeros     float32 {@code [in / groupSize, out]}, whole numbers (zero points as the checkpoint means them)
 * @param groupSize input channels per scale
 */
record Int4Matrix(NDArray values, NDArray scales, NDArray zeros, int groupSize) {

    Int4Matrix {
        long in = values.getShape().get(1);
        if (groupSize < 1 || in % groupSize != 0 || scales.getShape().get(0) != in / groupSize
                || !scales.getShape().equals(zeros.getShape()) || scales.getShape().get(1) != values.getShape().get(0)) {
            throw new IllegalArgumentException("int4 values " + values.getShape() + ", scales " + scales.getShape() + ", zeros "
                    + zeros.getShape() + " and group size " + groupSize + " do not fit together");
        }
    }

    long outputs() {
        return values.getShape().get(0);
    }

    long inputs() {
        return values.getShape().get(1);
    }

    /** The float32 weight {@code [out, in]} these values, zeros and scales stand for. */
    NDArray dequantize() {
        NDArray z = zeros.repeat(0, groupSize).transpose();
        NDArray s = scales.repeat(0, groupSize).transpose();
        return values.toType(DataType.FLOAT32, false).sub(z).mul(s);
    }

    /** Projections side by side along the outputs (q, k, v; gate, up), as the model fuses them: same inputs and groups. */
    static Int4Matrix concatOutputs(List<Int4Matrix> parts) {
        Int4Matrix first = parts.getFirst();
        for (Int4Matrix p : parts) {
            if (p.groupSize != first.groupSize || p.inputs() != first.inputs()) {
                throw new IllegalArgumentException("int4 projections of " + p.inputs() + " inputs in groups of " + p.groupSize
                        + " cannot be fused with ones of " + first.inputs() + " in groups of " + first.groupSize);
            }
        }
        if (parts.size() == 1) {
            return first;
        }
        return new Int4Matrix(NDArrays.concat(new NDList(parts.stream().map(Int4Matrix::values).toList()), 0),
                NDArrays.concat(new NDList(parts.stream().map(Int4Matrix::scales).toList()), 1),
                NDArrays.concat(new NDList(parts.stream().map(Int4Matrix::zeros).toList()), 1), first.groupSize);
    }

    /**
     * The first {@code rows} outputs multiplied by {@code factor}: their scales are (the zero points
     * are in units of the scale and stay), so the attention scale folds in without touching a value.
     */
    Int4Matrix scaleLeadingOutputs(long rows, float factor) {
        if (rows == 0) {
            return this;
        }
        long out = outputs();
        float[] column = new float[(int) out];
        for (int o = 0; o < out; o++) {
            column[o] = o < rows ? factor : 1f;
        }
        NDArray f = scales.getManager().create(column).reshape(1, out);
        return new Int4Matrix(values, scales.mul(f), zeros, groupSize);
    }

    /**
     * The same weight in groups of {@code smaller}, a divisor of the group size: each scale and zero
     * repeated. Exact, and how a group the kernel does not take (per channel, 512) becomes one it does.
     */
    Int4Matrix regrouped(int smaller) {
        if (smaller == groupSize) {
            return this;
        }
        if (smaller < 1 || groupSize % smaller != 0) {
            throw new IllegalArgumentException("groups of " + groupSize + " cannot be split into groups of " + smaller);
        }
        int factor = groupSize / smaller;
        return new Int4Matrix(values, scales.repeat(0, factor), zeros.repeat(0, factor), smaller);
    }
}
