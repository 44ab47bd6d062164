package io.spillway.vectors;

/**
 * The shape and graph parameters of a collection, fixed when it is created.
 *
 * <p>The three HNSW parameters trade recall against speed and memory:
 * <ul>
 *   <li>{@code m}: links per node (twice that on the bottom layer). Higher raises recall, most
 *       of all for high-dimensional or clustered data, at the price of memory (about 8·m bytes
 *       per vector) and slower inserts. 16 suits 100–1000 dimensions; 32–48 for the hardest sets.</li>
 *   <li>{@code efConstruction}: the candidate list while inserting. Higher builds a better graph
 *       (recall at a given {@code ef} goes up) and makes inserts proportionally slower; it does not
 *       cost anything at query time.</li>
 *   <li>{@code ef}: the candidate list while searching (at least k). The main recall/latency knob
 *       at query time, and the only one that can change per query: search cost grows roughly
 *       linearly with it.</li>
 * </ul>
 * {@code kernels-bench}'s HnswRecallBenchmark measures recall@10 and throughput for these.
 */
public record CollectionSpec(int dimension, Metric metric, int m, int efConstruction, int ef) {

    public static final int DEFAULT_M = 16;
    public static final int DEFAULT_EF_CONSTRUCTION = 200;
    public static final int DEFAULT_EF = 64;
    public static final int MAX_DIMENSION = 65_536;

    public CollectionSpec {
        if (dimension < 1 || dimension > MAX_DIMENSION) {
            throw new IllegalArgumentException("dimension must be in [1, " + MAX_DIMENSION + "], got " + dimension);
        }
        if (metric == null) {
            throw new IllegalArgumentException("a collection needs a metric");
        }
        if (m < 2 || m > 256) {
            throw new IllegalArgumentException("m must be in [2, 256], got " + m);
        }
        if (efConstruction < 1 || efConstruction > 10_000) {
            throw new IllegalArgumentException("ef_construction must be in [1, 10000], got " + efConstruction);
        }
        if (ef < 1 || ef > 10_000) {
            throw new IllegalArgumentException("ef must be in [1, 10000], got " + ef);
        }
    }

    public static CollectionSpec of(int dimension, Metric metric) {
        return new CollectionSpec(dimension, metric, DEFAULT_M, DEFAULT_EF_CONSTRUCTION, DEFAULT_EF);
    }
}
