package io.spillway.models.checkpoint;

import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import java.util.Optional;

/** The safetensors dtypes a checkpoint's weights may be stored in, and their DJL counterparts. */
public enum TensorDType {
    F32("F32", 4, DataType.FLOAT32),
    F16("F16", 2, DataType.FLOAT16),
    BF16("BF16", 2, DataType.BFLOAT16);

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

    public DataType djl() {
        return djl;
    }

    public static Optional<TensorDType> fromCode(String code) {
        return Arrays.stream(values()).filter(d -> d.code.equals(code)).findFirst();
    }

    public static TensorDType fromDjl(DataType type) {
        return Arrays.stream(values()).filter(d -> d.djl == type).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no safetensors weight dtype for " + type));
    }
}
