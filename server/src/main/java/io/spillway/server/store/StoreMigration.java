package io.spillway.server.store;

import io.spillway.server.platform.keys.Database;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.CollectionStore;
import io.spillway.vectors.Metric;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import io.spillway.vectors.storage.OwnerOnly;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Copies collections between the embedded store (a directory per owner under
 * {@code collections.data-dir}) and the shared store's tables, and proves each copy: the records are
 * read back from where they went, and their count and checksum must equal the source's. The
 * checksum is SHA-256 over the records in id order, each as its id, its vector's float bits and its
 * metadata in key order with types, so any record lost, added, moved or changed by a bit shows.
 * Collections that already exist at the destination are refused before anything is copied.
 */
public final class StoreMigration {

    /** One collection copied: who owns it, its name, its count and checksum (equal on both sides). */
    public record Copied(String owner, String name, int count, String checksum) {
    }

    /** Directories under data-dir that are not owners: the replica cache and the semantic cache's scratch index. */
    private static final List<String> NOT_OWNERS = List.of("replica", "semantic-cache");
    private static final int BATCH = 1000;

    private StoreMigration() {
    }

    /** The checksum of a set of records, whatever their order. */
    public static String checksum(Iterable<VectorRecord> records) {
        TreeMap<String, byte[]> byId = new TreeMap<>();
        for (VectorRecord r : records) {
            MessageDigest d = sha256();
            d.update(r.id().getBytes(StandardCharsets.UTF_8));
            d.update((byte) 0);
            d.update(Rows.vectorBytes(r.vector()));
            for (Map.Entry<String, Object> e : new TreeMap<>(r.metadata()).entrySet()) {
                d.update((e.getKey() + "\u0000" + e.getValue().getClass().getSimpleName() + ":" + e.getValue() + "\u0000")
                        .getBytes(StandardCharsets.UTF_8));
            }
            byId.put(r.id(), d.digest());
        }
        MessageDigest all = sha256();
        byId.values().forEach(all::update);
        return HexFormat.of().formatHex(all.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The embedded collections under {@code root}, by owner and name. */
    private static List<Path[]> embedded(Path root) throws IOException {
        List<Path[]> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (Stream<Path> owners = Files.list(root)) {
            for (Path owner : owners.filter(Files::isDirectory).sorted().toList()) {
                if (NOT_OWNERS.contains(owner.getFileName().toString())) {
                    continue;
                }
                try (Stream<Path> cols = Files.list(owner)) {
                    for (Path c : cols.filter(p -> Files.isRegularFile(p.resolve("collection.properties"))).sorted().toList()) {
                        out.add(new Path[] {owner, c});
                    }
                }
            }
        }
        return out;
    }

    /** Copies every embedded collection under {@code root} into the database's tables. */
    public static List<Copied> embeddedToDatabase(Path root, Database db, StorageOptions storage) throws IOException, SQLException {
        List<Path[]> sources = embedded(root);
        for (Path[] s : sources) {
            if (exists(db, s[0].getFileName().toString(), s[1].getFileName().toString())) {
                throw new IllegalStateException("collection " + s[0].getFileName() + "/" + s[1].getFileName()
                        + " already exists in the database: drop it there first, nothing was copied");
            }
        }
        List<Copied> out = new ArrayList<>();
        for (Path[] s : sources) {
            String owner = s[0].getFileName().toString();
            String name = s[1].getFileName().toString();
            try (VectorCollection c = VectorCollection.open(s[1], storage)) {
                List<VectorRecord> records = c.records();
                String id = UUID.randomUUID().toString();
                // One write at seq 1 with no log entry: a replica finds no change to apply from 0 and
                // builds its index from the tables, which is what a copy is.
                db.transaction(conn -> {
                    SharedCatalog.insertCollection(conn, id, owner, name, c.spec(), 1);
                    try (PreparedStatement p = conn.prepareStatement("INSERT INTO vector_items (collection_id, id, document_id, vector,"
                            + " metadata, text, expires_at, seq) VALUES (?, ?, ?, ?, ?, ?, NULL, 1)")) {
                        int pending = 0;
                        for (VectorRecord r : records) {
                            p.setString(1, id);
                            p.setString(2, r.id());
                            p.setString(3, r.metadata().get("document_id") instanceof String d ? d : null);
                            p.setBytes(4, Rows.vectorBytes(r.vector()));
                            p.setString(5, Rows.metadataJson(r.metadata()));
                            p.setString(6, Rows.text(r));
                            p.addBatch();
                            if (++pending == BATCH) {
                                p.executeBatch();
                                pending = 0;
                            }
                        }
                        if (pending > 0) {
                            p.executeBatch();
                        }
                    }
                    return null;
                });
                String expected = checksum(records);
                List<VectorRecord> copied = readTable(db, id, c.spec().dimension());
                verify(owner, name, records.size(), expected, copied);
                out.add(new Copied(owner, name, records.size(), expected));
            }
        }
        return out;
    }

    /** Copies every collection of the database's tables into embedded collections under {@code root}. */
    public static List<Copied> databaseToEmbedded(Database db, Path root, StorageOptions storage) throws IOException, SQLException {
        record Source(String id, String owner, String name, CollectionSpec spec, long seq) {
        }
        List<Source> sources = db.run(conn -> {
            List<Source> list = new ArrayList<>();
            try (PreparedStatement p = conn.prepareStatement("SELECT id, owner, name, dimension, metric, m, ef_construction, ef, last_seq"
                    + " FROM vector_collections WHERE owner NOT LIKE 'spillway:%' ORDER BY owner, name");
                 ResultSet r = p.executeQuery()) {
                while (r.next()) {
                    list.add(new Source(r.getString(1), r.getString(2), r.getString(3), new CollectionSpec(r.getInt(4),
                            Metric.parse(r.getString(5)), r.getInt(6), r.getInt(7), r.getInt(8)), r.getLong(9)));
                }
            }
            return list;
        });
        for (Source s : sources) {
            if (Files.exists(root.resolve(s.owner()).resolve(s.name()))) {
                throw new IllegalStateException("collection " + s.owner() + "/" + s.name() + " already exists under " + root
                        + ": move it away first, nothing was copied");
            }
        }
        List<Copied> out = new ArrayList<>();
        for (Source s : sources) {
            CollectionStore.validateName(s.name());
            List<VectorRecord> records = readTable(db, s.id(), s.spec().dimension());
            Path ownerDir = root.resolve(s.owner());
            OwnerOnly.createDirectories(ownerDir);
            Path dir = ownerDir.resolve(s.name());
            try (VectorCollection c = VectorCollection.create(dir, s.spec(), storage)) {
                List<List<VectorRecord>> batches = new ArrayList<>();
                for (int i = 0; i < records.size(); i += BATCH) {
                    batches.add(records.subList(i, Math.min(records.size(), i + BATCH)));
                }
                c.load(batches.iterator(), Math.max(1, s.seq()));
            }
            String expected = checksum(records);
            try (VectorCollection c = VectorCollection.open(dir, storage)) {
                verify(s.owner(), s.name(), records.size(), expected, c.records());
            }
            out.add(new Copied(s.owner(), s.name(), records.size(), expected));
        }
        return out;
    }

    private static void verify(String owner, String name, int count, String checksum, List<VectorRecord> copied) {
        String got = checksum(copied);
        if (copied.size() != count || !got.equals(checksum)) {
            throw new IllegalStateException("collection " + owner + "/" + name + " did not copy faithfully: " + count + " records with"
                    + " checksum " + checksum + " at the source, " + copied.size() + " with " + got + " at the destination");
        }
    }

    private static boolean exists(Database db, String owner, String name) {
        return db.run(conn -> {
            try (PreparedStatement p = conn.prepareStatement("SELECT 1 FROM vector_collections WHERE owner = ? AND name = ?")) {
                p.setString(1, owner);
                p.setString(2, name);
                try (ResultSet r = p.executeQuery()) {
                    return r.next();
                }
            }
        });
    }

    private static List<VectorRecord> readTable(Database db, String id, int dimension) {
        return db.run(conn -> {
            List<VectorRecord> out = new ArrayList<>();
            try (PreparedStatement p = conn.prepareStatement("SELECT id, vector, metadata, text FROM vector_items WHERE collection_id = ?")) {
                p.setString(1, id);
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        float[] v = Rows.vector(r.getBytes(2));
                        if (v.length != dimension) {
                            throw new SQLException("item " + r.getString(1) + " has " + v.length + " dimensions, not " + dimension);
                        }
                        out.add(new VectorRecord(r.getString(1), v, Rows.metadata(r.getString(3), r.getString(4))));
                    }
                }
            }
            return out;
        });
    }
}
