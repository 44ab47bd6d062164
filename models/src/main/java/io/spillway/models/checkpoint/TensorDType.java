package io.spillway.models.checkpoint;

import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import java.util.Optional;

/**
 * The safetensors dtypes a checkpoint's weights may be stored in, and the DJL dtype each is read as.
 * I32 holds the packed 4-bit values and zero points of AWQ and GPTQ checkpoints (and GPTQ's
 * {@code g_idx}); float weights are F32, F16 or BF16.
 *
 * <p>BF16 is read as float32: DJL 0.36's PyTorch JNI has no bfloat16 mapping, and creating or
 * converting to a bfloat16 tensor aborts the process ("terminate called without an active
 * exception"). Widening bfloat16 to float32 is exact (a 16-bit shift), done in Java on the way in,
 * and it is the form the loader folds norms and scales in anyway. A bfloat16 model rounds every
 * weight back (ComputeTarget's containers): a BF16 tensor that nothing was folded into comes back
 * with its stored bits (a NaN as libtorch's canonical NaN).
 */
public enum TensorDType {
    F32("F32", 4, DataType.FLOAT32),
    F16("F16", 2, DataType.FLOAT16),
    BF16("BF16", 2, DataType.FLOAT32),
    I32("I32", 4, DataType.INT32);

    private final String code;
    private final int bytes;
    private final DataType djl;

    TensorDType(String code, int bytes, DataType djl) {
        this.code = code;
        this.bytes = bytes;
        this.djl = djl;
    }

    /** The dtype's name in a safetensors header. */
    public String code() {
        return code;
    }

    public int bytes() {
        return bytes;
    }

    /** The dtype this storage dtype is loaded as. */
    public DataType djl() {
        return djl;
    }

    public static Optional<TensorDType> fromCode(String code) {
        return Arrays.stream(values()).filter(d -> d.code.equals(code)).findFirst();
    }
}
