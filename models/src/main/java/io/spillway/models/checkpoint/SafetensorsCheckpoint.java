package io.spillway.models.checkpoint;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or the shards listed
 * in {@code model.safetensors.index.json}. Tensors are memory-mapped one at a time when read.
 */
public final class SafetensorsCheckpoint implements TensorSource {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    /** Tensors larger than this are mapped in row chunks (a Java mapping is limited to 2 GiB). */
    private static final long MAX_MAPPING_BYTES = 1L << 30;

    private final Path directory;
    private final List<SafetensorsFile> files;
    private final Map<String, TensorInfo> tensors;
    private final Map<Path, SafetensorsFile> byPath;
    private final Float32Filler filler = new Float32Filler();

    private SafetensorsCheckpoint(Path directory, List<SafetensorsFile> files) {
        this.directory = directory;
        this.files = List.copyOf(files);
        this.tensors = new HashMap<>();
        this.byPath = new HashMap<>();
        for (SafetensorsFile f : files) {
            byPath.put(f.path(), f);
            tensors.putAll(f.tensors());
        }
    }

    /** Whether the directory holds safetensors weights in one of the layouts this class reads. */
    public static boolean present(Path directory) {
        return Files.isRegularFile(directory.resolve(INDEX_FILE)) || Files.isRegularFile(directory.resolve(SINGLE_FILE));
    }

    public static SafetensorsCheckpoint open(Path directory) {
        Path index = directory.resolve(INDEX_FILE);
        List<Path> shardPaths;
        if (Files.isRegularFile(index)) {
            shardPaths = shardsFromIndex(index);
        } else if (Files.isRegularFile(directory.resolve(SINGLE_FILE))) {
            shardPaths = List.of(directory.resolve(SINGLE_FILE));
        } else {
            throw new CheckpointException("no weights in " + directory + ": expected " + SINGLE_FILE + " or " + INDEX_FILE
                    + " (use --load-format dummy for random weights)");
        }
        List<SafetensorsFile> opened = new ArrayList<>();
        try {
            for (Path p : shardPaths) {
                opened.add(SafetensorsFile.open(p));
            }
        } catch (RuntimeException e) {
            opened.forEach(SafetensorsFile::close);
            throw e;
        }
        return new SafetensorsCheckpoint(directory, opened);
    }

    private static List<Path> shardsFromIndex(Path index) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(index));
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + index + ": " + e.getMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new CheckpointException(index + " has no \"weight_map\" object");
        }
        Map<String, Path> shards = new LinkedHashMap<>();
        for (Iterator<JsonNode> it = map.elements(); it.hasNext(); ) {
            String shard = it.next().asText();
            Path p = index.getParent().resolve(shard).normalize();
            if (!p.startsWith(index.getParent())) {
                throw new CheckpointException(index + " names a shard outside its directory: " + shard);
            }
            if (!Files.isRegularFile(p)) {
                throw new CheckpointException("missing shard " + p + " listed in " + index);
            }
            shards.put(shard, p);
        }
        return new ArrayList<>(shards.values());
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public Map<String, TensorInfo> tensors() {
        return Map.copyOf(tensors);
    }

    @Override
    public NDArray read(String name, long[] expectedShape, NDManager scratch) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new CheckpointException("tensor " + name + " is missing from " + describe());
        }
        if (!Arrays.equals(info.shape(), expectedShape)) {
            throw new CheckpointException("tensor " + name + " in " + info.file() + " has shape " + info.shapeString()
                    + " but config.json implies " + Arrays.toString(expectedShape));
        }
        if (info.dtype() == null) {
            throw new CheckpointException("tensor " + name + " in " + info.file() + " has dtype " + info.rawDtype()
                    + "; supported: F32, F16, BF16 (and I32 for packed int4 tensors)");
        }
        SafetensorsFile file = byPath.get(info.file());
        if (info.dtype() == TensorDType.BF16) {
            return widenBf16(file, info, expectedShape, scratch);
        }
        if (info.byteLength() <= MAX_MAPPING_BYTES || expectedShape.length == 0) {
            return view(file, info.fileOffset(), info.byteLength(), new Shape(expectedShape), info, scratch);
        }
        return readInRowChunks(file, info, expectedShape, scratch);
    }

    private static NDArray view(SafetensorsFile file, long offset, long length, Shape shape, TensorInfo info, NDManager scratch) {
        ByteBuffer mapped = file.map(offset, length);
        // A mapped buffer is direct, so DJL wraps it without copying: this array aliases the file.
        return scratch.create(mapped, shape, info.dtype().djl());
    }

    /** bfloat16 is the top half of a float32: shift each value into place, chunk by chunk. */
    private NDArray widenBf16(SafetensorsFile file, TensorInfo info, long[] shape, NDManager scratch) {
        return filler.fill(scratch, shape, (start, n, out) -> {
            ByteBuffer mapped = file.map(info.fileOffset() + start * 2, n * 2L);
            for (int i = 0; i < n; i++) {
                out.put(FloatConversions.bf16ToFloat(mapped.getShort(i * 2)));
            }
        });
    }

    private static NDArray readInRowChunks(SafetensorsFile file, TensorInfo info, long[] shape, NDManager scratch) {
        long rowBytes = info.byteLength() / shape[0];
        long rowsPerChunk = Math.max(1, MAX_MAPPING_BYTES / rowBytes);
        NDList chunks = new NDList();
        for (long row = 0; row < shape[0]; row += rowsPerChunk) {
            long rows = Math.min(rowsPerChunk, shape[0] - row);
            long[] chunkShape = shape.clone();
            chunkShape[0] = rows;
            chunks.add(view(file, info.fileOffset() + row * rowBytes, rows * rowBytes, new Shape(chunkShape), info, scratch));
        }
        return NDArrays.concat(chunks, 0);
    }

    @Override
    public String describe() {
        return files.size() == 1 ? files.get(0).path().toString()
                : files.size() + " safetensors shards in " + directory;
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
