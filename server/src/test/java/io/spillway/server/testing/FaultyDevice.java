package io.spillway.server.testing;

import ai.djl.engine.EngineException;
import io.spillway.models.sampling.Sample;
import io.spillway.server.engine.BatchRunner;
import io.spillway.server.engine.LaunchedBatch;
import io.spillway.server.engine.StepBatch;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * A device that fails as a GPU does, around the engine's real model runner: a pass matching the
 * rule throws DJL's {@link EngineException} with libtorch's words, as it is queued, either before
 * it runs or after (when its keys and values are already in the cache and its draws were taken,
 * then dropped), or when the engine waits for its samples (where CUDA reports a kernel's failure). Every other pass
 * runs for real. It can also hold the next pass, so a test can queue requests that then share a batch.
 */
public final class FaultyDevice implements UnaryOperator<BatchRunner> {

    /** libtorch's caching allocator, verbatim apart from the sizes. */
    public static final String CUDA_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB"
            + " of which 1.19 GiB is free. Including non-PyTorch memory, this process has 77.95 GiB memory in use.";
    public static final String ILLEGAL_ACCESS = "CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be"
            + " asynchronously reported at some other API call, so the stacktrace below might be incorrect.";

    private enum Stage { BEFORE_FORWARD, AFTER_FORWARD, WAITING }

    private record Rule(Predicate<StepBatch> when, String message, Stage stage) {
    }

    private volatile Rule rule;
    private volatile CountDownLatch held;
    private volatile CountDownLatch holding;
    private final AtomicInteger failures = new AtomicInteger();
    /** The request ids of every pass that failed, in order. */
    private final List<List<String>> failed = new CopyOnWriteArrayList<>();

    /** Passes matching {@code when} throw {@code message}, before they run or after. */
    public FaultyDevice failWhen(Predicate<StepBatch> when, String message, boolean afterForward) {
        rule = new Rule(when, message, afterForward ? Stage.AFTER_FORWARD : Stage.BEFORE_FORWARD);
        return this;
    }

    /** Passes matching {@code when} are queued and run, and throw {@code message} when the engine waits for their samples. */
    public FaultyDevice failWhileWaiting(Predicate<StepBatch> when, String message) {
        rule = new Rule(when, message, Stage.WAITING);
        return this;
    }

    public FaultyDevice healthy() {
        rule = null;
        return this;
    }

    /** The next pass waits for {@link #release()}; returns once it is waiting. */
    public void holdNextPass(Runnable whileHeld) throws InterruptedException {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch arrived = new CountDownLatch(1);
        holding = arrived;
        held = release;
        whileHeld.run();
        if (!arrived.await(60, TimeUnit.SECONDS)) {
            throw new AssertionError("no pass reached the device within a minute");
        }
    }

    public void release() {
        CountDownLatch release = held;
        held = null;
        if (release != null) {
            release.countDown();
        }
    }

    public int failures() {
        return failures.get();
    }

    public List<List<String>> failedPasses() {
        return failed;
    }

    @Override
    public BatchRunner apply(BatchRunner real) {
        return batch -> {
            CountDownLatch release = held;
            if (release != null) {
                holding.countDown();
                awaitUninterruptibly(release);
            }
            Rule r = rule;
            if (r == null || !r.when().test(batch)) {
                return real.launch(batch);
            }
            switch (r.stage()) {
                case BEFORE_FORWARD -> throw fail(batch, r);
                case AFTER_FORWARD -> {
                    // Its keys and values written, its draws taken, and then lost: as an allocation failing late would.
                    try (LaunchedBatch launched = real.launch(batch)) {
                        launched.samples();
                    }
                    throw fail(batch, r);
                }
                case WAITING -> {
                    LaunchedBatch launched = real.launch(batch);
                    return new LaunchedBatch() {
                        @Override
                        public List<Sample> samples() {
                            launched.samples();
                            throw fail(batch, r);
                        }

                        @Override
                        public void close() {
                            launched.close();
                        }
                    };
                }
                default -> throw new AssertionError(r.stage());
            }
        };
    }

    private EngineException fail(StepBatch batch, Rule r) {
        failures.incrementAndGet();
        failed.add(batch.requestIds());
        return new EngineException(r.message());
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new AssertionError("a held pass was not released within a minute");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
