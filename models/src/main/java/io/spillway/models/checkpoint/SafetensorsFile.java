package io.spillway.models.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code .safetensors} file: its header is parsed and checked eagerly; tensor data is only
 * memory-mapped on demand, one tensor at a time, so the Java heap never holds weights.
 *
 * <p>Format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
 * its dtype, shape and [begin, end) byte offsets relative to the end of the header, then the data.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** A header larger than this is not a safetensors header but a corrupt or foreign file. */
    private static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final FileChannel channel;
    private final Map<String, TensorInfo> tensors;

    private SafetensorsFile(Path path, FileChannel channel, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.channel = channel;
        this.tensors = tensors;
    }

    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("missing safetensors file " + path);
        } catch (IOException e) {
            throw new CheckpointException("cannot open " + path + ": " + e.getMessage(), e);
        }
        try {
            return new SafetensorsFile(path, channel, readHeader(path, channel));
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static Map<String, TensorInfo> readHeader(Path path, FileChannel channel) {
        try {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw new CheckpointException(path + " is truncated: " + fileSize + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > fileSize) {
                throw new CheckpointException(path + " is not a valid safetensors file or is truncated: header length "
                        + headerLength + " with a file of " + fileSize + " bytes");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            JsonNode root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            if (root == null || !root.isObject()) {
                throw new CheckpointException(path + ": safetensors header is not a JSON object");
            }
            long dataStart = 8 + headerLength;
            long dataLength = fileSize - dataStart;
            Map<String, TensorInfo> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    continue;
                }
                out.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataStart, dataLength));
            }
            return Collections.unmodifiableMap(out);
        } catch (IOException e) {
            throw new CheckpointException("cannot read the safetensors header of " + path + ": " + e.getMessage(), e);
        }
    }

    private static TensorInfo parseEntry(Path path, String name, JsonNode entry, long dataStart, long dataLength) {
        JsonNode shapeNode = entry.get("shape");
        JsonNode offsets = entry.get("data_offsets");
        String rawDtype = entry.path("dtype").asText("");
        if (shapeNode == null || !shapeNode.isArray() || offsets == null || !offsets.isArray() || offsets.size() != 2) {
            throw new CheckpointException(path + ": tensor " + name + " has a malformed header entry " + entry);
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong();
            if (shape[i] < 0) {
                throw new CheckpointException(path + ": tensor " + name + " has a negative dimension");
            }
            elements = Math.multiplyExact(elements, shape[i]);
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw new CheckpointException(path + ": tensor " + name + " has invalid data offsets [" + begin + ", " + end + ")");
        }
        if (end > dataLength) {
            throw new CheckpointException(path + " is truncated: tensor " + name + " ends at byte " + (dataStart + end)
                    + " but the file has " + (dataStart + dataLength) + " bytes");
        }
        TensorDType dtype = TensorDType.fromCode(rawDtype).orElse(null);
        if (dtype != null && elements * dtype.bytes() != end - begin) {
            throw new CheckpointException(path + ": tensor " + name + " " + rawDtype + java.util.Arrays.toString(shape)
                    + " needs " + elements * dtype.bytes() + " bytes but its offsets span " + (end - begin));
        }
        return new TensorInfo(name, path, dtype, rawDtype, shape, dataStart + begin, end - begin);
    }

    public Path path() {
        return path;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /**
     * Maps bytes [offset, offset + length) of this file read-only, in little-endian order. The
     * buffer must never be written: any in-place op on an array backed by it crashes the JVM.
     */
    public ByteBuffer map(long offset, long length) {
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a single mapping is limited to 2 GiB; map " + path + " in row chunks");
        }
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, offset, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new CheckpointException("cannot memory-map " + length + " bytes at " + offset + " of " + path + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }

    private static void readFully(FileChannel channel, ByteBuffer into, long position) throws IOException {
        long pos = position;
        while (into.hasRemaining()) {
            int n = channel.read(into, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file at byte " + pos);
            }
            pos += n;
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Read-only channel: nothing to flush, nothing lost.
        }
    }
}
