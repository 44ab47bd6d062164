package io.spillway.models.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes float tensors to a safetensors file, converting to F32, F16 or BF16, and int32 ones as I32
 * (the packed tensors of int4 checkpoints). Used to build tiny
 * checkpoints for tests and demos; a whole file is assembled in memory, so it is meant for small
 * models only.
 */
public final class SafetensorsWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor: {@code floats} for a float dtype, {@code ints} for I32. */
    private record Entry(TensorDType dtype, long[] shape, float[] floats, int[] ints) {

        int length() {
            return floats != null ? floats.length : ints.length;
        }
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();

    public SafetensorsWriter add(String name, TensorDType dtype, long[] shape, float[] values) {
        if (dtype == TensorDType.I32) {
            throw new IllegalArgumentException(name + ": I32 tensors are written with addInts");
        }
        requireElements(name, shape, values.length);
        entries.put(name, new Entry(dtype, shape.clone(), values, null));
        return this;
    }

    /** An I32 tensor. */
    public SafetensorsWriter addInts(String name, long[] shape, int[] values) {
        requireElements(name, shape, values.length);
        entries.put(name, new Entry(TensorDType.I32, shape.clone(), null, values));
        return this;
    }

    private static void requireElements(String name, long[] shape, int length) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != length) {
            throw new IllegalArgumentException(name + ": shape holds " + n + " elements, values has " + length);
        }
    }

    public void write(Path file) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        long offset = 0;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            Entry t = e.getValue();
            long bytes = (long) t.length() * t.dtype.bytes();
            ObjectNode node = header.putObject(e.getKey());
            node.put("dtype", t.dtype.code());
            var shape = node.putArray("shape");
            for (long d : t.shape) {
                shape.add(d);
            }
            node.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] headerBytes = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        int padded = (headerBytes.length + 7) / 8 * 8;
        try (OutputStream out = Files.newOutputStream(file)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(headerBytes);
            for (int i = headerBytes.length; i < padded; i++) {
                out.write(' ');
            }
            for (Entry t : entries.values()) {
                ByteBuffer data = ByteBuffer.allocate(t.length() * t.dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
                if (t.ints != null) {
                    for (int v : t.ints) {
                        data.putInt(v);
                    }
                } else {
                    for (float v : t.floats) {
                        switch (t.dtype) {
                            case F32 -> data.putFloat(v);
                            case F16 -> data.putShort(Float.floatToFloat16(v));
                            case BF16 -> data.putShort(FloatConversions.floatToBf16(v));
                            case I32 -> throw new IllegalStateException("float values for an I32 tensor");
                        }
                    }
                }
                out.write(data.array());
            }
        }
    }
}
