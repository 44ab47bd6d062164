package io.spillway.server.embeddings;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Embeddings with dynamic micro-batching: inputs from concurrent requests queue up and one thread
 * runs them through the model together, up to {@code maxBatchSize} inputs, waiting at most
 * {@code maxWait} after the first for company. One ONNX run over 32 short inputs costs little
 * more than over one, so under concurrency this multiplies throughput; alone, a request waits
 * at most {@code maxWait}.
 */
public final class EmbeddingService implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddingService.class);

    /** Raised when the queue is full: the caller answers 503 rather than letting work pile up. */
    public static final class OverloadedException extends RuntimeException {
        public OverloadedException(String message) {
            super(message);
        }
    }

    private record Pending(long[] ids, CompletableFuture<float[]> result) {
    }

    private final EmbeddingModel model;
    private final int maxBatchSize;
    private final long maxWaitNanos;
    private final int maxQueuedInputs;
    private final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final Thread worker;
    private volatile boolean closed;
    private final Histogram batchSize;
    private final Histogram batchSeconds;
    private final Counter inputs;
    private final Counter tokens;

    public EmbeddingService(EmbeddingModel model, int maxBatchSize, Duration maxWait, int maxQueuedInputs, PrometheusRegistry registry) {
        if (maxBatchSize < 1) {
            throw new IllegalArgumentException("embeddings max batch size must be at least 1");
        }
        this.model = model;
        this.maxBatchSize = maxBatchSize;
        this.maxWaitNanos = maxWait.toNanos();
        this.maxQueuedInputs = maxQueuedInputs;
        this.batchSize = Histogram.builder().name("spillway_embedding_batch_size").help("Inputs per embedding model run")
                .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256).register(registry);
        this.batchSeconds = Histogram.builder().name("spillway_embedding_batch_seconds").help("Time of one embedding model run")
                .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5).register(registry);
        this.inputs = Counter.builder().name("spillway_embedding_inputs_total").help("Inputs embedded").register(registry);
        this.tokens = Counter.builder().name("spillway_embedding_tokens_total").help("Tokens embedded").register(registry);
        this.worker = Thread.ofPlatform().name("embeddings").daemon().start(this::loop);
    }

    public EmbeddingModel model() {
        return model;
    }

    public String name() {
        return model.name();
    }

    public int dimension() {
        return model.dimension();
    }

    /** Embeds texts (tokenized on the calling thread). */
    public CompletableFuture<List<float[]>> embedTexts(List<String> texts) {
        List<long[]> ids = new ArrayList<>(texts.size());
        for (String t : texts) {
            ids.add(model.tokenize(t));
        }
        return embedIds(ids);
    }

    /** Embeds pre-tokenized inputs, each at most the model's maximum length. */
    public CompletableFuture<List<float[]>> embedIds(List<long[]> ids) {
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("the embedding service is shut down"));
        }
        if (queued.addAndGet(ids.size()) > maxQueuedInputs && ids.size() < maxQueuedInputs) {
            queued.addAndGet(-ids.size());
            throw new OverloadedException(maxQueuedInputs + " inputs are already waiting for the embedding model");
        }
        List<CompletableFuture<float[]>> parts = new ArrayList<>(ids.size());
        for (long[] row : ids) {
            CompletableFuture<float[]> f = new CompletableFuture<>();
            parts.add(f);
            queue.add(new Pending(row, f));
        }
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture[0]))
                .thenApply(ignored -> parts.stream().map(CompletableFuture::join).toList());
    }

    private void loop() {
        List<Pending> batch = new ArrayList<>(maxBatchSize);
        while (!closed) {
            try {
                Pending first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                long deadline = System.nanoTime() + maxWaitNanos;
                while (batch.size() < maxBatchSize) {
                    // Whatever is already queued joins at once; then wait out the rest of maxWait.
                    Pending next = queue.poll();
                    if (next == null) {
                        long left = deadline - System.nanoTime();
                        if (left <= 0) {
                            break;
                        }
                        next = queue.poll(left, TimeUnit.NANOSECONDS);
                        if (next == null) {
                            break;
                        }
                    }
                    batch.add(next);
                }
                run(batch);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } finally {
                queued.addAndGet(-batch.size());
                batch.clear();
            }
        }
        Pending p;
        while ((p = queue.poll()) != null) {
            p.result().completeExceptionally(new IllegalStateException("the embedding service shut down"));
        }
    }

    private void run(List<Pending> batch) {
        // Similar lengths together: padding to the longest input is wasted work for the rest.
        batch.sort((a, b) -> Integer.compare(a.ids().length, b.ids().length));
        long start = System.nanoTime();
        try {
            List<long[]> ids = new ArrayList<>(batch.size());
            long tokenCount = 0;
            for (Pending p : batch) {
                ids.add(p.ids());
                tokenCount += p.ids().length;
            }
            float[][] vectors = model.embed(ids);
            for (int i = 0; i < batch.size(); i++) {
                batch.get(i).result().complete(vectors[i]);
            }
            batchSize.observe(batch.size());
            inputs.inc(batch.size());
            tokens.inc(tokenCount);
        } catch (Exception | Error e) {
            LOG.error("embeddings: a batch of {} inputs failed", batch.size(), e);
            for (Pending p : batch) {
                p.result().completeExceptionally(e);
            }
        } finally {
            batchSeconds.observe((System.nanoTime() - start) / 1e9);
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            worker.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        model.close();
    }
}
