package io.spillway.vectors;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The child process of {@link CrashRecoveryTest}: writes to a collection as fast as it can and
 * reports each write before it starts ("BEGIN") and once acknowledged ("ACK"), until killed.
 * Args: collection directory, first operation number.
 */
public final class CrashWriter {

    static final int DIM = 8;
    static final StorageOptions OPTIONS = new StorageOptions(true, 32 << 10);

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long op = Long.parseLong(args[1]);
        PrintStream out = new PrintStream(System.out, false);
        VectorCollection c = Files.exists(dir)
                ? VectorCollection.open(dir, OPTIONS)
                : VectorCollection.create(dir, CollectionSpec.of(DIM, Metric.EUCLIDEAN), OPTIONS);
        out.println("READY");
        out.flush();
        Random rnd = new Random(op);
        while (true) {
            boolean delete = rnd.nextInt(4) == 0;
            int n = 1 + rnd.nextInt(4);
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                ids.add("r" + rnd.nextInt(300));
            }
            out.println("BEGIN " + op + (delete ? " D " : " U ") + String.join(" ", ids));
            out.flush();
            if (delete) {
                c.delete(ids);
            } else {
                List<VectorRecord> records = new ArrayList<>();
                for (String id : ids) {
                    records.add(new VectorRecord(id, vector(op, id), Map.of("op", op)));
                }
                c.upsert(records);
            }
            out.println("ACK " + op);
            out.flush();
            op++;
        }
    }

    /** The vector operation {@code op} writes for {@code id}: the parent recomputes it to check. */
    static float[] vector(long op, String id) {
        float[] v = new float[DIM];
        Random r = new Random(op * 31 + id.hashCode());
        for (int i = 0; i < DIM; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
