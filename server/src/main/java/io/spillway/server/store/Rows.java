package io.spillway.server.store;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.vectors.VectorRecord;
import io.spillway.vectors.storage.RecordCodec;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How records and changes are written in the shared store's tables: vectors as little-endian
 * float32 bytes (exact: what a replica's graph holds is bit for bit what was committed), metadata
 * as a JSON object whose numbers keep their type (integers are longs, anything with a fraction or
 * exponent a double), the chunk text in a column of its own, and a change as the binary records
 * of the write-ahead log.
 */
public final class Rows {

    /** The metadata field that holds a record's text; kept in its own column. */
    public static final String TEXT = "text";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Rows() {
    }

    /** A write as the change log holds it: the records it upserted (prepared), then the ids it deleted. */
    public record Change(long seq, List<VectorRecord> upserts, List<String> deletes) {
    }

    public static byte[] vectorBytes(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return b.array();
    }

    public static float[] vector(byte[] bytes) {
        float[] v = new float[bytes.length / 4];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        return v;
    }

    /** The metadata without its text, as JSON. */
    public static String metadataJson(Map<String, Object> metadata) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        metadata.forEach((k, v) -> {
            if (k.equals(TEXT) && v instanceof String) {
                return;
            }
            switch (v) {
                case String s -> o.put(k, s);
                case Long l -> o.put(k, l);
                case Double d -> o.put(k, d);
                case Boolean b -> o.put(k, b);
                default -> throw new IllegalArgumentException("metadata field '" + k + "' is a " + v.getClass().getSimpleName());
            }
        });
        return o.toString();
    }

    public static Map<String, Object> metadata(String json, String text) {
        Map<String, Object> out = new LinkedHashMap<>();
        try {
            JsonNode o = JSON.readTree(json);
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                Object value = v.isTextual() ? v.asText() : v.isBoolean() ? v.asBoolean() : v.isIntegralNumber() ? (Object) v.asLong()
                        : (Object) v.asDouble();
                out.put(e.getKey(), value);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("unreadable metadata in the database: " + json, e);
        }
        if (text != null) {
            out.put(TEXT, text);
        }
        return out;
    }

    public static String text(VectorRecord r) {
        return r.metadata().get(TEXT) instanceof String s ? s : null;
    }

    public static byte[] encode(List<VectorRecord> upserts, List<String> deletes) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(upserts.size());
            for (VectorRecord r : upserts) {
                RecordCodec.write(out, r);
            }
            out.writeInt(deletes.size());
            for (String id : deletes) {
                RecordCodec.writeString(out, id);
            }
            out.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Change decode(long seq, byte[] payload, int dimension) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(payload));
        int n = in.readInt();
        List<VectorRecord> upserts = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            upserts.add(RecordCodec.read(in, dimension));
        }
        int d = in.readInt();
        List<String> deletes = new ArrayList<>(d);
        for (int i = 0; i < d; i++) {
            deletes.add(RecordCodec.readString(in));
        }
        return new Change(seq, upserts, deletes);
    }

    /**
     * Whether a failure means the database could not be reached (down, restarting, refusing
     * connections, the pool's wait ran out) rather than that the statement was wrong: the former is
     * a 503 to retry, the latter a fault.
     */
    public static boolean unreachable(Throwable e) {
        return io.spillway.server.platform.keys.Database.unreachable(e);
    }

}
