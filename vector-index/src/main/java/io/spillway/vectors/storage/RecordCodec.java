package io.spillway.vectors.storage;

import io.spillway.vectors.VectorRecord;
import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The binary form of records, shared by the write-ahead log and snapshots. Little room for
 * ambiguity: every string is length-prefixed UTF-8, every metadata value carries a type tag.
 */
public final class RecordCodec {

    private static final byte STRING = 1;
    private static final byte LONG = 2;
    private static final byte DOUBLE = 3;
    private static final byte BOOLEAN = 4;
    /** Far above anything legitimate; a larger length can only be a corrupt file. */
    private static final int MAX_STRING_BYTES = 64 << 20;
    private static final int MAX_FIELDS = 1 << 16;

    private RecordCodec() {
    }

    public static void write(DataOutput out, VectorRecord record) throws IOException {
        writeString(out, record.id());
        float[] v = record.vector();
        out.writeInt(v.length);
        for (float x : v) {
            out.writeFloat(x);
        }
        out.writeInt(record.metadata().size());
        for (Map.Entry<String, Object> e : record.metadata().entrySet()) {
            writeString(out, e.getKey());
            switch (e.getValue()) {
                case String s -> {
                    out.writeByte(STRING);
                    writeString(out, s);
                }
                case Long l -> {
                    out.writeByte(LONG);
                    out.writeLong(l);
                }
                case Double d -> {
                    out.writeByte(DOUBLE);
                    out.writeDouble(d);
                }
                case Boolean b -> {
                    out.writeByte(BOOLEAN);
                    out.writeBoolean(b);
                }
                default -> throw new IllegalStateException("unexpected metadata type " + e.getValue().getClass());
            }
        }
    }

    public static VectorRecord read(DataInput in, int expectedDimension) throws IOException {
        String id = readString(in);
        int dims = in.readInt();
        if (dims != expectedDimension) {
            throw new IOException("record '" + id + "' has " + dims + " dimensions where the collection has " + expectedDimension);
        }
        float[] v = new float[dims];
        for (int i = 0; i < dims; i++) {
            v[i] = in.readFloat();
        }
        int fields = in.readInt();
        if (fields < 0 || fields > MAX_FIELDS) {
            throw new IOException("record '" + id + "' claims " + fields + " metadata fields");
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (int i = 0; i < fields; i++) {
            String key = readString(in);
            byte type = in.readByte();
            Object value = switch (type) {
                case STRING -> readString(in);
                case LONG -> in.readLong();
                case DOUBLE -> in.readDouble();
                case BOOLEAN -> in.readBoolean();
                default -> throw new IOException("record '" + id + "' has metadata of unknown type tag " + type);
            };
            metadata.put(key, value);
        }
        return new VectorRecord(id, v, metadata);
    }

    public static void writeString(DataOutput out, String s) throws IOException {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    public static String readString(DataInput in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_STRING_BYTES) {
            throw new IOException("corrupt string length " + n);
        }
        byte[] bytes = new byte[n];
        in.readFully(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
