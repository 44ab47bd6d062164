package io.spillway.bench;

import io.spillway.server.platform.keys.Database;
import io.spillway.server.store.CollectionCatalog;
import io.spillway.server.store.EmbeddedCatalog;
import io.spillway.server.store.SharedCatalog;
import io.spillway.server.store.StoredCollection;
import io.spillway.vectors.CollectionSpec;
import io.spillway.vectors.Filter;
import io.spillway.vectors.Metric;
import io.spillway.vectors.SearchHit;
import io.spillway.vectors.StorageOptions;
import io.spillway.vectors.VectorCollection;
import io.spillway.vectors.VectorRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The two collection stores on the HnswRecall set ({@code n} clustered vectors of dimension 384):
 * {@code embedded} (files, write-ahead log synced per write) against {@code database} (PostgreSQL:
 * items and change log committed per write, then applied to the writer's own index). Setup ingests
 * through the store's write path in batches of 1,000 (one acknowledged write each) and reports the
 * ingest rate and recall@10 at the default ef over 500 held-out queries. The benchmark measures query
 * latency on the writer's index (the query path reads only the in-process index, whatever the store).
 * Afterwards, for the database store, a second replica with no local data builds its index from the
 * tables: how long that takes, and that replica's recall.
 *
 * <p>Run: {@code SPILLWAY_BENCH_POSTGRES_URL=$(SPILLWAY_PG_DURABLE=1 .ci/postgres start /tmp/pg-bench)
 * ./spillway bench kernels CollectionStore} (both stores; about 10 minutes on 2 cores). The database
 * should be a durable one (SPILLWAY_PG_DURABLE=1): the embedded store syncs every write.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 2, time = 10)
@Fork(value = 1, jvmArgsAppend = {"-Xmx6g"})
public class CollectionStoreBenchmark {

    @Param({"embedded", "database"})
    public String store;

    @Param({"100000"})
    public int n;

    private Path dir;
    private Database db;
    private CollectionCatalog catalog;
    private StoredCollection collection;
    private float[][] queries;
    private int next;
    private int[][] exact;
    private String name;

    @Setup(Level.Trial)
    public void build() throws Exception {
        Random rnd = new Random(2026);
        float[][] centers = new float[HnswRecallBenchmark.CLUSTERS][HnswRecallBenchmark.DIM];
        double[] spread = new double[HnswRecallBenchmark.CLUSTERS];
        for (int c = 0; c < centers.length; c++) {
            for (int d = 0; d < HnswRecallBenchmark.DIM; d++) {
                centers[c][d] = (float) rnd.nextGaussian();
            }
            spread[c] = 0.3 + rnd.nextDouble() * 0.7;
        }
        float[][] data = new float[n][];
        for (int i = 0; i < n; i++) {
            data[i] = HnswRecallBenchmark.sample(centers, spread, rnd);
        }
        queries = new float[HnswRecallBenchmark.QUERIES][];
        for (int q = 0; q < queries.length; q++) {
            queries[q] = HnswRecallBenchmark.sample(centers, spread, rnd);
        }
        dir = Files.createTempDirectory("store-bench");
        String name = "bench-" + UUID.randomUUID().toString().substring(0, 8);
        if (store.equals("embedded")) {
            catalog = new EmbeddedCatalog(dir.resolve("embedded"), StorageOptions.DEFAULT);
        } else {
            String url = System.getenv("SPILLWAY_BENCH_POSTGRES_URL");
            if (url == null || url.isBlank()) {
                throw new IllegalStateException("the database store needs SPILLWAY_BENCH_POSTGRES_URL (see the class comment)");
            }
            db = Database.open(url, "", "");
            catalog = SharedCatalog.start(db, settings(dir.resolve("replica-a")));
        }
        collection = catalog.create("bench", name, CollectionSpec.of(HnswRecallBenchmark.DIM, Metric.COSINE));
        long start = System.nanoTime();
        List<VectorRecord> batch = new ArrayList<>(1000);
        for (int i = 0; i < n; i++) {
            batch.add(new VectorRecord(Integer.toString(i), data[i], Map.of()));
            if (batch.size() == 1000) {
                collection.upsert(batch);
                batch.clear();
            }
        }
        if (!batch.isEmpty()) {
            collection.upsert(batch);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        int[][] exact = exact(data);
        System.out.printf("%n%s store: %d vectors x %d dims ingested in %.1f s = %.0f vectors/s (%d acknowledged writes of 1,000);"
                + " recall@10 at ef=%d: %.4f%n", store, n, HnswRecallBenchmark.DIM, seconds, n / seconds, (n + 999) / 1000,
                collection.spec().ef(), recall(collection, exact));
        this.exact = exact;
        this.name = name;
    }

    private static SharedCatalog.Settings settings(Path local) {
        return new SharedCatalog.Settings(local, new StorageOptions(false, 64L << 20), Duration.ofSeconds(1), Duration.ofHours(24));
    }

    private int[][] exact(float[][] data) {
        float[][] unit = new float[data.length][];
        for (int i = 0; i < data.length; i++) {
            unit[i] = HnswRecallBenchmark.normalized(data[i]);
        }
        int[][] exact = new int[queries.length][];
        for (int q = 0; q < queries.length; q++) {
            exact[q] = HnswRecallBenchmark.topK(unit, HnswRecallBenchmark.normalized(queries[q]), 10);
        }
        return exact;
    }

    private double recall(StoredCollection c, int[][] exact) {
        double sum = 0;
        for (int q = 0; q < queries.length; q++) {
            Set<String> truth = new HashSet<>();
            for (int id : exact[q]) {
                truth.add(Integer.toString(id));
            }
            int found = 0;
            for (SearchHit h : c.query(queries[q], 10, 0, Filter.NONE)) {
                found += truth.contains(h.id()) ? 1 : 0;
            }
            sum += found / 10.0;
        }
        return sum / queries.length;
    }

    @Benchmark
    public List<SearchHit> query() {
        float[] q = queries[next];
        next = (next + 1) % queries.length;
        return collection.query(q, 10, 0, Filter.NONE);
    }

    /**
     * After the measurement, so that its garbage (a second 100,000-vector index) cannot land in the
     * query latencies: a second replica with no local data builds its index from the tables.
     */
    @TearDown(Level.Trial)
    public void close() throws Exception {
        if (db != null) {
            long t0 = System.nanoTime();
            try (SharedCatalog second = SharedCatalog.start(db, settings(dir.resolve("replica-b")))) {
                StoredCollection replica = second.get("bench", name).orElseThrow();
                System.out.printf("%ndatabase store: a second replica with no local data built its index from the tables in %.1f s"
                        + " (%d records at seq %d); its recall@10: %.4f%n", (System.nanoTime() - t0) / 1e9, replica.size(),
                        replica.appliedSeq(), recall(replica, exact));
            }
        }
        catalog.drop("bench", collection.name());
        catalog.close();
        if (db != null) {
            db.close();
        }
        VectorCollection.deleteTree(dir);
    }
}
