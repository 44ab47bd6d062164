package io.spillway.vectors;

import io.spillway.vectors.storage.OwnerOnly;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The collections under one directory, by name. Opens what is there on first use; creation and
 * dropping are atomic on disk (a directory appears complete or not at all).
 */
public final class CollectionStore implements AutoCloseable {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,63}");

    private final Path root;
    private final StorageOptions options;
    private final Map<String, VectorCollection> open = new ConcurrentHashMap<>();
    private boolean loaded;

    public CollectionStore(Path root, StorageOptions options) {
        this.root = root;
        this.options = options;
    }

    public static void validateName(String name) {
        if (name == null || !NAME.matcher(name).matches() || name.contains("..")) {
            throw new IllegalArgumentException("collection names are 1-64 characters of letters, digits, '_', '-' and '.',"
                    + " starting with a letter or digit; got '" + name + "'");
        }
    }

    private synchronized void loadAll() throws IOException {
        if (loaded) {
            return;
        }
        if (Files.isDirectory(root)) {
            try (Stream<Path> dirs = Files.list(root)) {
                for (Path d : dirs.filter(Files::isDirectory).toList()) {
                    String name = d.getFileName().toString();
                    if (name.contains(".dropped-") || name.endsWith(".creating")) {
                        // Leftovers of a drop or a create that a crash interrupted.
                        VectorCollection.deleteTree(d);
                    } else if (NAME.matcher(name).matches()) {
                        open.put(name, VectorCollection.open(d, options));
                    }
                }
            }
        }
        loaded = true;
    }

    public synchronized VectorCollection create(String name, CollectionSpec spec) throws IOException {
        validateName(name);
        loadAll();
        if (open.containsKey(name)) {
            throw new IllegalStateException("collection '" + name + "' already exists");
        }
        OwnerOnly.createDirectories(root);
        VectorCollection c = VectorCollection.create(root.resolve(name), spec, options);
        open.put(name, c);
        return c;
    }

    public Optional<VectorCollection> get(String name) throws IOException {
        loadAll();
        return Optional.ofNullable(open.get(name));
    }

    public List<String> names() throws IOException {
        loadAll();
        List<String> names = new ArrayList<>(open.keySet());
        names.sort(null);
        return names;
    }

    public synchronized boolean drop(String name) throws IOException {
        loadAll();
        VectorCollection c = open.remove(name);
        if (c == null) {
            return false;
        }
        c.drop();
        return true;
    }

    @Override
    public synchronized void close() throws IOException {
        IOException first = null;
        for (VectorCollection c : open.values()) {
            try {
                c.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        open.clear();
        loaded = false;
        if (first != null) {
            throw first;
        }
    }
}
