package io.spillway.models.checkpoint;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Where one tensor lives in a safetensors file.
 *
 * @param name        the tensor's name in the header
 * @param file        the file that holds it
 * @param dtype       its stored dtype, or null when the file stores a dtype Spillway cannot load
 * @param rawDtype    the dtype as written in the header (kept for error messages)
 * @param shape       its shape
 * @param fileOffset  absolute byte offset of its first element in the file
 * @param byteLength  its size in bytes
 */
public record TensorInfo(String name, Path file, TensorDType dtype, String rawDtype, long[] shape, long fileOffset, long byteLength) {

    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && file.equals(t.file) && rawDtype.equals(t.rawDtype)
                && Arrays.equals(shape, t.shape) && fileOffset == t.fileOffset && byteLength == t.byteLength;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Long.hashCode(fileOffset);
    }

    @Override
    public String toString() {
        return name + " " + rawDtype + shapeString() + " in " + file.getFileName();
    }
}
