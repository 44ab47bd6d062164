package io.spillway.server.engine;

import ai.djl.ndarray.types.DataType;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.kv.KvCacheManager;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.sampling.Draw;
import io.spillway.models.sampling.Sample;
import io.spillway.models.sampling.SampleState;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.tokenizer.IncrementalDetokenizer;
import io.spillway.models.tokenizer.StopStrings;
import io.spillway.models.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The continuous-batching engine: one thread that, every step, queues the batch the
 * {@link Scheduler} gave it on the {@link ModelRunner}, schedules the next step while the device
 * runs this one, then draws a token for every sequence whose tokens are all computed, detokenizes,
 * checks stop conditions and publishes deltas to each request's {@link RequestStream}. New
 * requests join at any step; finished ones leave at once, freeing their KV blocks.
 *
 * <p>Threads: callers {@link #submit} and {@link #abort} from anywhere; those only touch
 * concurrent queues and wake the engine thread, so callers never block it and it never waits on
 * them. Everything else belongs to the engine thread, including loading the model: libtorch gives
 * every thread that runs ops its own OpenMP team, and two teams on two cores cost a SmolLM2-135M
 * decode step 29 ms instead of 17 (measured), so one thread does all of the model's work.
 */
public final class Engine implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);
    private static final long IDLE_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final double EWMA = 0.2;

    private final LoadedModel model;
    private final EngineConfig config;
    private final TextTokenizer tokenizer;
    private final Set<Integer> endTokens;
    private final int maxModelLength;
    private final int vocabSize;
    private final KvCacheManager kv;
    private final Scheduler scheduler;
    private final ModelRunner runner;
    /** The runner, or what a caller put around it (fault injection in tests). */
    private final BatchRunner batches;
    private final EngineMetrics metrics;

    private final ConcurrentLinkedQueue<RequestState> inbound = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<String> aborts = new ConcurrentLinkedQueue<>();
    /** Requests to hold (true) or release (false), in the order callers asked. */
    private final ConcurrentLinkedQueue<Map.Entry<String, Boolean>> holds = new ConcurrentLinkedQueue<>();
    private final Map<String, RequestState> inFlight = new ConcurrentHashMap<>();
    private final Map<String, StopStrings> stopStrings = new HashMap<>();
    /** Requests with a queue-wait limit, soonest limit first (engine thread only). */
    private final java.util.PriorityQueue<RequestState> withdrawable =
            new java.util.PriorityQueue<>(java.util.Comparator.comparingLong(RequestState::queueLimitNanos));
    private final Object admission = new Object();
    private int queuedRequests;
    private long queuedTokens;

    private Thread thread;
    private volatile boolean running = true;
    /** The next step's batch, scheduled while the last one ran; null when there is none (engine thread only). */
    private List<Scheduler.Scheduled> planned;
    private volatile EngineStats stats;
    /** Set once by the engine thread when the device is lost; never cleared (the process must restart). */
    private volatile EngineHealth.DeviceLost deviceLost;
    private long steps;
    private long preemptionsReported;
    private long promptTokensDone;
    private long generatedTokens;
    // Written by the engine thread, read by callers estimating the queue wait.
    private volatile double stepSeconds;
    private volatile double prefillTokensPerSecond;
    private volatile double averageOutputTokens;
    private volatile int minRemainingTokens;
    private volatile double predictionErrorP99;
    private double generationTokensPerSecond;

    private Engine(LoadedModel model, EngineConfig config, KvCacheSpec spec, PrometheusRegistry registry,
                   UnaryOperator<BatchRunner> around) {
        this.model = model;
        this.config = config;
        this.tokenizer = model.tokenizer().orElse(null);
        this.endTokens = model.eosTokenIds();
        this.maxModelLength = model.model().maxModelLength();
        this.vocabSize = model.config().vocabSize();
        this.kv = new KvCacheManager(spec.numBlocks(), spec.blockSize(), config.prefixCaching());
        this.scheduler = new Scheduler(config, kv,
                StepTransient.of(model.config(), model.model().target().dtype().getNumOfBytes()));
        this.runner = new ModelRunner(model.model(), spec, model.attention());
        this.batches = around.apply(runner);
        this.stats = snapshot();
        this.metrics = new EngineMetrics(registry, () -> stats);
    }

    /**
     * Starts the engine thread, which loads the model, sizes and allocates the KV cache, then
     * serves. Returns once the engine is ready; a load failure is rethrown here.
     */
    public static Engine start(ModelLoadOptions options, EngineConfig config, PrometheusRegistry registry) {
        return start(options, config, registry, UnaryOperator.identity());
    }

    /**
     * As {@link #start(ModelLoadOptions, EngineConfig, PrometheusRegistry)}, with every batch run
     * through {@code around} applied to the model runner: the seam where tests make a step fail
     * as it would on a GPU.
     */
    public static Engine start(ModelLoadOptions options, EngineConfig config, PrometheusRegistry registry,
                               UnaryOperator<BatchRunner> around) {
        java.util.concurrent.CompletableFuture<Engine> ready = new java.util.concurrent.CompletableFuture<>();
        Thread thread = new Thread(() -> {
            Engine engine;
            try {
                if (config.cpuThreads() > 0 && !options.target().isGpu()) {
                    // This thread runs every op, so its OpenMP team is the engine's compute.
                    io.spillway.models.runtime.TorchRuntime.setIntraOpThreads(config.cpuThreads());
                }
                LoadedModel model = LoadedModel.load(options);
                try {
                    KvCacheSpec spec = KvCacheSpec.forBudget(model.config(), config.blockSize(), model.model().target().dtype(),
                            kvBudgetBytes(model, config));
                    engine = new Engine(model, config, spec, registry, around);
                    engine.thread = Thread.currentThread();
                    LOG.info("engine: {} KV blocks of {} tokens ({} MiB, {} tokens), max {} sequences, {} tokens per step, prefix caching {},"
                                    + " attention {}", spec.usableBlocks(), spec.blockSize(), spec.totalBytes() >> 20,
                            (long) spec.usableBlocks() * spec.blockSize(), config.maxNumSeqs(), config.maxNumBatchedTokens(),
                            config.prefixCaching() ? "on" : "off", model.attention().configName());
                } catch (RuntimeException | Error e) {
                    model.close();
                    throw e;
                }
            } catch (RuntimeException | Error e) {
                ready.completeExceptionally(e);
                return;
            }
            ready.complete(engine);
            engine.loop();
        }, "spillway-engine");
        thread.start();
        try {
            return ready.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    /** On a CPU the configured bytes; on a GPU what {@link KvCacheSizing} measures is left. */
    private static long kvBudgetBytes(LoadedModel model, EngineConfig config) {
        if (!model.model().target().isGpu()) {
            return config.kvCacheBytes();
        }
        ai.djl.Device device = model.model().target().device();
        KvCacheSizing.Sizing sizing = KvCacheSizing.measure(model.model(), model.attention(), config, model.model().maxModelLength(),
                config.reservedDeviceBytes(), () -> {
                    java.lang.management.MemoryUsage memory = ai.djl.util.cuda.CudaUtils.getGpuMemory(device);
                    return new KvCacheSizing.DeviceMemory(memory.getMax(), memory.getCommitted());
                });
        LOG.info("engine: after the largest steps ({}) {} of {} MiB of {} are in use; the KV cache gets {} MiB",
                KvCacheSizing.describe(sizing.steps()), sizing.after().usedBytes() >> 20, sizing.after().totalBytes() >> 20, device,
                sizing.kvCacheBytes() >> 20);
        return sizing.kvCacheBytes();
    }

    public int maxModelLength() {
        return maxModelLength;
    }

    /**
     * The loaded model, for its tokenizer, templates and configs. Its network belongs to the
     * engine thread: never run it from elsewhere. It is closed with the engine.
     */
    public LoadedModel model() {
        return model;
    }

    public EngineConfig config() {
        return config;
    }

    /** Whether the engine thread is serving (false once {@link #close} began). */
    public boolean running() {
        return running && thread.isAlive();
    }

    /** Whether the engine can generate now, for the probes. */
    public EngineHealth health() {
        EngineHealth.DeviceLost lost = deviceLost;
        if (lost != null) {
            return lost;
        }
        return running() ? new EngineHealth.Serving() : new EngineHealth.Stopping();
    }

    /** The latest snapshot (refreshed every step). */
    public EngineStats stats() {
        return stats;
    }

    /**
     * What a request arriving now would wait before its prefill starts, from the queue as it is
     * now (including requests queued since the last step: a burst between two steps must not look
     * like an idle engine). The router compares it with its time-to-first-token target.
     */
    public double estimatedQueueWaitSeconds() {
        long tokens;
        int requests;
        synchronized (admission) {
            tokens = queuedTokens;
            requests = queuedRequests;
        }
        EngineStats s = stats;
        return queueWait(tokens, requests, s.running(), s.kvBlocksFree());
    }

    /**
     * Tracks the 99th percentile of (actual − predicted) time to first token by stochastic
     * approximation (an observation above the estimate moves it up by 0.99·η, one below moves it
     * down by 0.01·η). Whatever the model misses (step times that grow with the batch,
     * preemptions, a busy CPU) is learnt here and added to every prediction: time-to-first-token
     * targets are p99 targets, so a router comparing predictions with one errs towards spilling.
     */
    private void learnPredictionError(double error) {
        double q = predictionErrorP99;
        double eta = 0.02;
        q += error > q ? 0.99 * eta : -0.01 * eta;
        predictionErrorP99 = Math.max(0, q);
    }

    /**
     * Time to a new request's first token: prefill of everything queued ahead, plus, when
     * sequence slots or KV blocks are exhausted, the wait for a slot (the earliest running
     * sequence's remaining tokens, then an average request length per round of slots ahead in
     * the queue), plus its own first step.
     */
    private double queueWait(long queuedPromptTokens, int queuedAhead, int running, int freeBlocks) {
        double step = stepSeconds;
        double prefill = prefillTokensPerSecond;
        double wait;
        if (prefill > 0) {
            wait = queuedPromptTokens / prefill;
        } else {
            wait = queuedPromptTokens > 0 ? step * Math.ceil((double) queuedPromptTokens / config.maxNumBatchedTokens()) : 0;
        }
        int slots = config.maxNumSeqs();
        if (running + queuedAhead >= slots || freeBlocks == 0) {
            double perRequest = averageOutputTokens > 0 ? averageOutputTokens : minRemainingTokens;
            int freeSlots = Math.max(0, slots - running);
            // Slots free up at about slots / perRequest per step once the first one has.
            double rounds = Math.max(0, queuedAhead - freeSlots + 1) / (double) Math.max(1, slots);
            wait += step * (minRemainingTokens + rounds * perRequest);
        }
        // Its own prefill and first decode step come on top of the wait, and the learnt error.
        return wait + step + predictionErrorP99;
    }

    /**
     * Queues a request. Never blocks: over the admission bounds it fails at once.
     *
     * @throws EngineOverloadedException when the waiting queue is full
     * @throws EngineUnavailableException when the device was lost: this process cannot generate again
     * @throws IllegalArgumentException  when the request can never run (too long, bad token ids,
     *                                   a duplicate id)
     */
    public RequestStream submit(EngineRequest request) {
        EngineHealth.DeviceLost lost = deviceLost;
        if (lost != null) {
            throw new EngineUnavailableException(unusable(lost));
        }
        if (!running) {
            throw new EngineOverloadedException("the engine is shutting down", 1);
        }
        double predicted;
        int promptLength = request.promptLength();
        if (promptLength >= maxModelLength) {
            throw new PromptTooLongException(promptLength, maxModelLength);
        }
        for (int t : request.promptView()) {
            if (t < 0 || t >= vocabSize) {
                throw new IllegalArgumentException("prompt token id " + t + " is outside the vocabulary [0, " + vocabSize + ")");
            }
        }
        long capacity = (long) kv.totalBlocks() * kv.blockSize();
        if (promptLength + 1 > capacity) {
            throw new IllegalArgumentException("a prompt of " + promptLength + " tokens cannot fit in the KV cache ("
                    + capacity + " tokens)");
        }
        synchronized (admission) {
            if (queuedRequests + 1 > config.maxWaitingRequests() || queuedTokens + promptLength > config.maxWaitingTokens()) {
                throw new EngineOverloadedException("the engine's queue is full (" + queuedRequests + " requests, "
                        + queuedTokens + " prompt tokens waiting)", Math.max(1, estimatedQueueWaitSeconds()));
            }
            EngineStats snapshot = stats;
            predicted = queueWait(queuedTokens + promptLength, queuedRequests, snapshot.running(), snapshot.kvBlocksFree());
            if (request.maxQueueWaitSeconds() > 0) {
                double wait = predicted;
                if (wait > request.maxQueueWaitSeconds()) {
                    throw new EngineOverloadedException(String.format("the estimated wait for a first token (%.2f s) exceeds the"
                            + " request's limit (%.2f s)", wait, request.maxQueueWaitSeconds()), wait, true);
                }
            }
            queuedRequests++;
            queuedTokens += promptLength;
        }
        long now = System.nanoTime();
        long deadline = config.requestTimeout().isZero() ? 0 : now + config.requestTimeout().toNanos();
        RequestStream stream = new RequestStream(request.id(), () -> abort(request.id()), held -> hold(request.id(), held));
        RequestState state = new RequestState(request, stream, now, deadline);
        state.predictedWaitSeconds = predicted;
        if (inFlight.putIfAbsent(request.id(), state) != null) {
            releaseAdmission(promptLength);
            throw new IllegalArgumentException("request id " + request.id() + " is already in flight");
        }
        inbound.offer(state);
        LockSupport.unpark(thread);
        return stream;
    }

    /** Cancels a request (no-op if it already finished); its blocks are freed on the next step. */
    public void abort(String requestId) {
        aborts.offer(requestId);
        LockSupport.unpark(thread);
    }

    /**
     * Holds a request (its reader is not keeping up: it is not scheduled, and keeps its KV blocks
     * unless another request needs them) or releases it. No-op once it finished.
     */
    public void hold(String requestId, boolean held) {
        holds.offer(Map.entry(requestId, held));
        LockSupport.unpark(thread);
    }

    private void processHolds() {
        Map.Entry<String, Boolean> h;
        while ((h = holds.poll()) != null) {
            RequestState r = inFlight.get(h.getKey());
            if (r != null) {
                r.held = h.getValue();
            }
        }
    }

    private void releaseAdmission(int promptLength) {
        synchronized (admission) {
            queuedRequests--;
            queuedTokens -= promptLength;
        }
    }

    // ---- engine thread ----

    private void loop() {
        while (running) {
            try {
                intake();
                if (deviceLost != null) {
                    // Requests that passed submit's check as the device was lost.
                    failEverything(deviceLost);
                    LockSupport.parkNanos(this, IDLE_PARK_NANOS);
                    continue;
                }
                processAborts();
                processHolds();
                expireDeadlines();
                if (!scheduler.hasWork()) {
                    planned = null;
                    stats = snapshot();
                    LockSupport.parkNanos(this, IDLE_PARK_NANOS);
                    continue;
                }
                step();
            } catch (RuntimeException | Error e) {
                // CUDA reports errors asynchronously: a lost device may surface outside the forward pass.
                if (StepFailure.of(e) instanceof StepFailure.DeviceLost lost) {
                    loseDevice(lost, e);
                    continue;
                }
                // The engine must outlive any one request: fail what was running and carry on.
                planned = null;
                LOG.error("engine step failed; failing the running requests", e);
                failRunning(e);
            }
        }
        shutdownRemaining();
    }

    private void intake() {
        RequestState r;
        while ((r = inbound.poll()) != null) {
            EngineRequest req = r.request;
            SamplingParams p = req.params();
            if (!p.stop().isEmpty()) {
                stopStrings.put(req.id(), new StopStrings(p.stop()));
            }
            Sequence first = newSequence(r, 0, req.promptView(), req.promptLength(), sampleState(req, 0), kv.newSequence(req.cacheSalt()));
            r.sequences.add(first);
            scheduler.addWaiting(first);
            if (req.maxQueueWaitSeconds() > 0) {
                withdrawable.add(r);
            }
        }
    }

    private SampleState sampleState(EngineRequest req, int index) {
        SampleState state = new SampleState(req.params(), seedFor(req, index), endTokens, req.promptView());
        req.grammar().ifPresent(g -> state.constrain(g.matcher()));
        return state;
    }

    /** The request's seed, mixed per sample so n samples differ but each is reproducible. */
    private static long seedFor(EngineRequest req, int index) {
        Long seed = req.params().seed();
        long base = seed != null ? seed : ThreadLocalRandom.current().nextLong();
        return index == 0 ? base : base * 0x9E3779B97F4A7C15L + index;
    }

    private Sequence newSequence(RequestState r, int index, int[] tokens, int length, SampleState state,
                                 io.spillway.models.kv.SequenceBlocks blocks) {
        IncrementalDetokenizer detok = tokenizer == null ? null
                : new IncrementalDetokenizer(tokenizer, java.util.Arrays.copyOf(tokens, r.request.promptLength()), r.request.params().skipSpecialTokens());
        return new Sequence(r, index, tokens, length, r.request.promptLength(), state, detok, blocks);
    }

    private void processAborts() {
        String id;
        while ((id = aborts.poll()) != null) {
            RequestState r = inFlight.get(id);
            if (r != null) {
                finishRequest(r, FinishReason.ABORT, null);
            }
        }
    }

    /**
     * Withdraws requests still waiting, unstarted, whose queue-wait limit would pass before their
     * first token could come: the limit less two steps (this loop checks between steps, and the
     * request's own first step comes on top). What they waited is learnt as a prediction error,
     * a lower bound of what they would have waited.
     */
    private void withdrawOverdue() {
        long margin = (long) (2 * stepSeconds * 1e9);
        long now = System.nanoTime();
        RequestState r;
        while ((r = withdrawable.peek()) != null && (now + margin - r.queueLimitNanos() >= 0 || !inFlight.containsKey(r.id())
                || r.cachedPromptTokens >= 0)) {
            withdrawable.poll();
            if (inFlight.containsKey(r.id()) && r.cachedPromptTokens < 0) {
                learnPredictionError((now - r.arrivalNanos) / 1e9 - r.predictedWaitSeconds);
                finishRequest(r, FinishReason.WITHDRAWN, null);
            }
        }
    }

    private void expireDeadlines() {
        withdrawOverdue();
        if (config.requestTimeout().isZero()) {
            return;
        }
        long now = System.nanoTime();
        for (RequestState r : List.copyOf(inFlight.values())) {
            if (r.deadlineNanos != 0 && now - r.deadlineNanos > 0) {
                finishRequest(r, FinishReason.TIMEOUT, "request exceeded the time limit of " + config.requestTimeout().toSeconds() + " s");
            }
        }
    }

    private void step() {
        long start = System.nanoTime();
        List<Scheduler.Scheduled> batch = planned == null ? List.of() : live(planned);
        planned = null;
        if (batch.isEmpty()) {
            batch = schedule();
        }
        if (batch.isEmpty()) {
            resolveStall();
            return;
        }
        Ran ran = run(batch, true);
        int prefillTokens = ran.prefilled();
        int generated = ran.generated();
        double seconds = (System.nanoTime() - start) / 1e9;
        steps++;
        metrics.stepDuration.observe(seconds);
        stepSeconds = stepSeconds == 0 ? seconds : EWMA * seconds + (1 - EWMA) * stepSeconds;
        if (prefillTokens > 0) {
            double rate = prefillTokens / seconds;
            prefillTokensPerSecond = prefillTokensPerSecond == 0 ? rate : EWMA * rate + (1 - EWMA) * prefillTokensPerSecond;
        }
        generationTokensPerSecond = EWMA * (generated / seconds) + (1 - EWMA) * generationTokensPerSecond;
        stats = snapshot();
    }

    private List<Scheduler.Scheduled> schedule() {
        List<Scheduler.Scheduled> batch = scheduler.schedule();
        admitted();
        if (scheduler.preemptions() > preemptionsReported) {
            metrics.preemptions.inc(scheduler.preemptions() - preemptionsReported);
            preemptionsReported = scheduler.preemptions();
        }
        return batch;
    }

    /** The entries of sequences still running: one that ended since it was scheduled is left out. */
    private static List<Scheduler.Scheduled> live(List<Scheduler.Scheduled> part) {
        return part.stream().filter(s -> !s.sequence().finished()).toList();
    }

    /**
     * What parts of a step computed: tokens generated, and tokens fed in chunks of more than one
     * (prefill and recompute, for the prefill rate), counting only passes that succeeded.
     */
    private record Ran(int generated, int prefilled) {
        static final Ran NOTHING = new Ran(0, 0);

        Ran plus(Ran other) {
            return new Ran(generated + other.generated, prefilled + other.prefilled);
        }
    }

    /**
     * Runs part of the step's batch and takes its tokens. A part that
     * runs out of device memory is run again in halves, a lone sequence with half its chunk,
     * until only a single token that cannot fit is left to fail. Retrying is exact: nothing of a
     * sequence moves until its part was queued (its {@code computed}, its sampling state), and a
     * failed attempt's KV writes land only in the slots of the positions the retry writes again,
     * with the same values, before any query reads them; they are never registered in the prefix
     * cache, which takes only computed blocks.
     *
     * <p>With {@code planNext}, the next step is scheduled while the device runs this one, as if
     * every draw of this one were a token that lets its sequence go on ({@link #advance}): on a GPU
     * the scheduler's work then hides behind the device's instead of leaving it idle between
     * steps. New, cancelled and held requests are taken first. A sequence this step ends drops out
     * of that plan before it runs ({@link #live}); the KV slot planned for it is not given back
     * until then, and fork children (n &gt; 1) created by this step join the step after next.
     */
    private Ran run(List<Scheduler.Scheduled> part, boolean planNext) {
        // A request failed by an earlier part of this step may have samples in this one.
        List<Scheduler.Scheduled> live = live(part);
        if (live.isEmpty()) {
            return Ran.NOTHING;
        }
        List<Drawing> drawing = new ArrayList<>();
        List<Draw> draws = new ArrayList<>();
        int row = 0;
        for (Scheduler.Scheduled s : live) {
            Sequence seq = s.sequence();
            if (seq.drawing()) {
                throw new IllegalStateException("request " + seq.request.id() + " was scheduled before its last token was drawn");
            }
            if (seq.computed + s.tokens() == seq.length()) {
                // Every chunk that ends its sequence has a logits row.
                drawing.add(Drawing.of(seq, row++, draws, Engine::seedFor));
            }
        }
        LaunchedBatch launched;
        try {
            launched = batches.launch(new StepBatch(live, draws));
        } catch (RuntimeException e) {
            return recover(live, StepFailure.of(e), e);
        }
        int[] promptParts;
        List<Sample> samples;
        Throwable planning = null;
        try (launched) {
            promptParts = advance(live, drawing);
            if (planNext) {
                try {
                    intake();
                    processAborts();
                    processHolds();
                    planned = schedule();
                } catch (RuntimeException | Error e) {
                    // The host's failure, not the device's: the pass still completes (so that no
                    // stand-in is left unsettled), then the loop handles it.
                    planning = e;
                }
            }
            samples = launched.samples();
        } catch (RuntimeException e) {
            if (planning != null) {
                e.addSuppressed(planning);
            }
            return failLaunched(live, e);
        }
        Ran ran = commit(live, drawing, samples, promptParts);
        if (planning instanceof RuntimeException r) {
            throw r;
        }
        if (planning instanceof Error r) {
            throw r;
        }
        return ran;
    }

    /**
     * What a queued part does to its sequences, before its tokens come back: each is computed
     * past the tokens it feeds, and each that draws a token it can go on after (not its last by
     * max_tokens or the model's length) holds a stand-in for it; one drawing its last gives its
     * blocks back at once, as it would have before the next step was scheduled (unless n &gt; 1
     * samples fork from it). Returns each entry's prompt tokens.
     */
    private int[] advance(List<Scheduler.Scheduled> part, List<Drawing> drawing) {
        int[] promptParts = new int[part.size()];
        for (int i = 0; i < part.size(); i++) {
            Scheduler.Scheduled s = part.get(i);
            Sequence seq = s.sequence();
            promptParts[i] = Math.max(0, Math.min(seq.promptLength - seq.computed, s.tokens()));
            seq.computed += s.tokens();
        }
        for (Drawing d : drawing) {
            Sequence seq = d.sequence();
            if (!reachesLengthLimit(seq, 1)) {
                seq.appendDrawing();
            } else if (d.children().isEmpty()) {
                // Its last token: the next step may have its blocks (the device writes them in order).
                // Not a parent forking its samples: they will share its blocks.
                // Registered first, as commit would; only a lost device could leave them unwritten.
                kv.commitFullBlocks(seq.blocks, seq.tokens(), seq.computed);
                kv.free(seq.blocks);
            }
        }
        return promptParts;
    }

    /**
     * Whether {@code more} tokens past those drawn end the sequence at max_tokens or the model's
     * length: the one rule for ending by length, before a draw (planning) and after it.
     */
    private boolean reachesLengthLimit(Sequence seq, int more) {
        return seq.generated() + more >= seq.sampling.params().maxTokens() || seq.settledLength() + more >= maxModelLength;
    }

    /**
     * A queued part that failed as it ran (CUDA reports a kernel's failure at the next wait for the
     * device) or as its draws were queued: its sequences already moved on, so it cannot be retried,
     * and its requests fail, an out-of-memory among the draws too (rare: they need a fraction of
     * what the forward pass freed before them; the metric still counts it as one).
     */
    private Ran failLaunched(List<Scheduler.Scheduled> part, RuntimeException e) {
        StepFailure failure = StepFailure.of(e);
        if (failure instanceof StepFailure.DeviceLost) {
            return recover(part, failure, e);
        }
        metrics.stepFailures.labelValues(failure.kind()).inc();
        return failPart(part, failure.message(), e);
    }

    private Ran failPart(List<Scheduler.Scheduled> part, String message, RuntimeException e) {
        LOG.error("forward pass failed for {} sequences", part.size(), e);
        for (Scheduler.Scheduled s : part) {
            finishRequest(s.sequence().request, FinishReason.ERROR, "the forward pass failed: " + message);
        }
        return Ran.NOTHING;
    }

    private Ran recover(List<Scheduler.Scheduled> part, StepFailure failure, RuntimeException e) {
        metrics.stepFailures.labelValues(failure.kind()).inc();
        Scheduler.Scheduled first = part.get(0);
        return switch (failure) {
            case StepFailure.OutOfMemory oom when part.size() > 1 -> {
                LOG.warn("a forward pass of {} sequences ran out of device memory; running it again in halves: {}", part.size(),
                        oom.summary());
                int half = part.size() / 2;
                yield run(part.subList(0, half), false).plus(run(part.subList(half, part.size()), false));
            }
            case StepFailure.OutOfMemory oom when first.tokens() > 1 -> {
                LOG.warn("a forward pass of {} tokens of request {} ran out of device memory; running {} of them: {}", first.tokens(),
                        first.sequence().request.id(), first.tokens() / 2, oom.summary());
                // The rest of the chunk is scheduled next step, as any unfinished prompt is.
                yield run(List.of(new Scheduler.Scheduled(first.sequence(), first.tokens() / 2)), false);
            }
            case StepFailure.OutOfMemory oom -> {
                Sequence seq = first.sequence();
                LOG.warn("request {} cannot fit in device memory alone at {} tokens of context: {}", seq.request.id(), seq.computed + 1,
                        oom.summary());
                finishRequest(seq.request, FinishReason.ERROR, "the forward pass ran out of device memory for this sequence alone, "
                        + "one token at " + (seq.computed + 1) + " tokens of context (" + oom.summary() + "); a shorter prompt or"
                        + " output may fit, or a server with more free device memory");
                yield Ran.NOTHING;
            }
            case StepFailure.DeviceLost lost -> {
                loseDevice(lost, e);
                yield Ran.NOTHING;
            }
            case StepFailure.Other other -> failPart(part, other.message(), e);
        };
    }

    /** Registers the blocks the part filled and takes its samples. */
    private Ran commit(List<Scheduler.Scheduled> part, List<Drawing> drawing, List<Sample> samples, int[] promptParts) {
        int prefilled = 0;
        for (int i = 0; i < part.size(); i++) {
            Scheduler.Scheduled s = part.get(i);
            Sequence seq = s.sequence();
            if (seq.finished()) {
                continue;
            }
            if (s.tokens() > 1) {
                prefilled += s.tokens();
            }
            if (promptParts[i] > 0) {
                promptTokensDone += promptParts[i];
                metrics.promptTokens.inc(promptParts[i]);
            }
            // A sequence preempted since holds no blocks, and has nothing to register.
            kv.commitFullBlocks(seq.blocks, seq.tokens(), seq.computed);
        }
        int generated = 0;
        for (Drawing d : drawing) {
            if (!d.sequence().finished()) {
                generated += sampleAndEmit(d, samples);
            }
        }
        return new Ran(generated, prefilled);
    }

    /**
     * The device cannot run anything again (a sticky CUDA error): every request in flight fails,
     * new ones are refused, and {@link #health()} says why until the process is replaced.
     */
    private void loseDevice(StepFailure.DeviceLost lost, Throwable e) {
        if (deviceLost == null) {
            LOG.error("the model's device failed and cannot recover: failing every request and refusing new ones until this"
                    + " process is restarted", e);
            deviceLost = new EngineHealth.DeviceLost(lost.summary(), java.time.Instant.now());
        }
        failEverything(deviceLost);
    }

    private void failEverything(EngineHealth.DeviceLost lost) {
        intake();
        String error = unusable(lost);
        for (RequestState r : List.copyOf(inFlight.values())) {
            finishRequest(r, FinishReason.ERROR, error);
        }
        stats = snapshot();
    }

    private static String unusable(EngineHealth.DeviceLost lost) {
        return "the model's device failed and cannot recover (" + lost.reason() + "); this server can no longer generate until it"
                + " is restarted";
    }

    /** Requests whose first sample just left the waiting queue no longer count against admission. */
    private void admitted() {
        for (Sequence s : scheduler.runningSequences()) {
            if (s.index == 0 && s.request.cachedPromptTokens >= 0 && !s.request.admissionReleased) {
                s.request.admissionReleased = true;
                releaseAdmission(s.request.request.promptLength());
                metrics.prefixQueries.inc(s.request.request.promptLength());
                metrics.prefixHits.inc(s.request.cachedPromptTokens);
            }
        }
    }

    /** Nothing could be scheduled though work is queued. */
    private void resolveStall() {
        if (scheduler.runningCount() > 0) {
            return;
        }
        // Forked samples wait holding shared blocks; release them and retry from the prefix cache.
        boolean released = false;
        for (Sequence s : scheduler.waitingSequences()) {
            if (s.blocks.size() > 0) {
                kv.free(s.blocks);
                s.computed = 0;
                released = true;
            }
        }
        if (!released) {
            Sequence head = scheduler.waitingSequences().peekFirst();
            if (head != null) {
                finishRequest(head.request, FinishReason.ERROR, "the request does not fit in the KV cache");
            }
        }
    }

    /**
     * What one sequence draws this step: its own token, and when it is the first sample of an
     * n &gt; 1 request whose prompt just finished, its siblings' first tokens, from the same logits
     * row. The siblings' sampling states are forked before the step (nothing in the step changes
     * the parent's), so that their draws go to the device with the others.
     *
     * @param children  the siblings' sampling states, sample index 1 onwards (empty unless forking)
     * @param firstDraw the index of the first of this sequence's draws (children first, then its own)
     */
    private record Drawing(Sequence sequence, List<SampleState> children, int firstDraw) {

        static Drawing of(Sequence seq, int row, List<Draw> draws, java.util.function.ToLongBiFunction<EngineRequest, Integer> seeds) {
            RequestState r = seq.request;
            List<SampleState> children = new ArrayList<>();
            if (r.forkPending && seq.index == 0) {
                for (int i = 1; i < r.request.params().n(); i++) {
                    children.add(seq.sampling.fork(seeds.applyAsLong(r.request, i)));
                }
            }
            int first = draws.size();
            for (SampleState child : children) {
                draws.add(new Draw(row, child));
            }
            draws.add(new Draw(row, seq.sampling));
            return new Drawing(seq, children, first);
        }
    }

    /** Emits the next token of {@code d}'s sequence (and forks its siblings first when n &gt; 1); returns tokens generated. */
    private int sampleAndEmit(Drawing d, List<Sample> samples) {
        Sequence seq = d.sequence();
        RequestState r = seq.request;
        int produced = 0;
        Sample own = samples.get(d.firstDraw() + d.children().size());
        if (!own.finite()) {
            // Every draw of this drawing comes from the same row: no sibling is forked from it.
            r.forkPending = false;
            return accept(seq, own);
        }
        if (!d.children().isEmpty()) {
            r.forkPending = false;
            for (int i = 1; i <= d.children().size(); i++) {
                // Children share the prompt's full blocks and recompute only its partial last block.
                io.spillway.models.kv.SequenceBlocks blocks = kv.fork(seq.blocks, seq.computed);
                Sequence child = newSequence(r, i, seq.tokens(), seq.settledLength(), d.children().get(i - 1), blocks);
                child.computed = blocks.size() * kv.blockSize();
                r.sequences.add(child);
                produced += accept(child, samples.get(d.firstDraw() + i - 1));
                if (!child.finished()) {
                    scheduler.addWaitingFirst(child);
                }
            }
        }
        produced += accept(seq, own);
        return produced;
    }

    /**
     * The request of each entry of the next step's plan, scheduled while the current step runs
     * (empty when none was); engine thread only, which is where a {@link BatchRunner} runs.
     */
    List<String> plannedRequestIds() {
        return planned == null ? List.of() : planned.stream().map(s -> s.sequence().request.id()).toList();
    }

    /** Host-to-device transfers of the steps so far (on the CPU, the copies that stand for them). */
    long hostToDeviceTransfers() {
        return runner.hostToDeviceTransfers();
    }

    /** Bytes the steps so far copied from the model's device to the host (ids and requested logprobs). */
    long hostCopyBytes() {
        return runner.hostCopyBytes();
    }

    /** Appends a sampled token, checks stop conditions and publishes the delta; returns 1, or 0 for a row that was not finite. */
    private int accept(Sequence seq, Sample sample) {
        RequestState r = seq.request;
        if (seq.finished()) {
            // A sibling's non-finite row (the same logits) already ended the request.
            return 0;
        }
        if (!sample.finite()) {
            LOG.error("request {}: the model's logits held NaN or an infinity at position {} ({}); ending it", r.id(),
                    seq.settledLength(), runner.target());
            finishRequest(r, FinishReason.ERROR, "the model produced non-finite logits (NaN or infinity) at this position, so no"
                    + " token was sampled; on " + runner.target() + " this is usually an activation overflowing its range"
                    + (runner.target().dtype() == DataType.FLOAT16
                            ? " (float16 ends at 65,504: serve with --dtype float32, or bfloat16 on a GPU of compute capability 8.0"
                                    + " or more: both have float32's range)"
                            : " (serve with --dtype float32 to check)"));
            return 0;
        }
        SamplingParams p = seq.sampling.params();
        int token = sample.token();
        seq.settle(token);
        seq.sampling.accept(token);
        generatedTokens++;
        metrics.generationTokens.inc();
        long now = System.nanoTime();
        if (r.firstTokenNanos == 0) {
            r.firstTokenNanos = now;
            double ttft = (now - r.arrivalNanos) / 1e9;
            metrics.timeToFirstToken.observe(ttft);
            learnPredictionError(ttft - r.predictedWaitSeconds);
        } else if (seq.lastTokenNanos != 0) {
            metrics.interTokenLatency.observe((now - seq.lastTokenNanos) / 1e9);
        }
        seq.lastTokenNanos = now;

        FinishReason finish = null;
        Object stopReason = null;
        boolean stoppedByString = false;
        boolean mayStop = seq.generated() >= p.minTokens();
        StopStrings stops = stopStrings.get(r.id());
        if (mayStop && seq.sampling.isStopToken(token)) {
            finish = FinishReason.STOP;
            stopReason = p.stopTokenIds().contains(token) ? token : null;
        } else if (seq.detokenizer != null) {
            int before = seq.text.length();
            seq.text.append(seq.detokenizer.add(token));
            StopStrings.Match match = mayStop && stops != null ? stops.find(seq.text, before) : null;
            if (match != null) {
                seq.text.setLength(match.index());
                finish = FinishReason.STOP;
                stopReason = match.stop();
                stoppedByString = true;
            }
        }
        if (finish == null && reachesLengthLimit(seq, 0)) {
            finish = FinishReason.LENGTH;
        }
        if (finish != null && !stoppedByString && seq.detokenizer != null) {
            seq.text.append(seq.detokenizer.flush());
        }
        int emitUpTo = finish != null || stops == null ? seq.text.length() : seq.text.length() - stops.holdBack(seq.text);
        String text = "";
        if (emitUpTo > seq.emittedText) {
            text = seq.text.substring(seq.emittedText, emitUpTo);
            seq.emittedText = emitUpTo;
        }
        List<Sample> logprobs = p.logprobs() == null ? List.of() : List.of(sample);
        RequestDelta.Usage usage = null;
        if (finish != null) {
            scheduler.remove(seq);
            metrics.finished.labelValues(finish.openAi()).inc();
            r.finishedSequences++;
            if (r.done()) {
                usage = complete(r);
            }
        }
        r.stream.publish(new RequestDelta(seq.index, new int[] {token}, text, logprobs, finish, stopReason, usage, null));
        return 1;
    }

    /** Ends every unfinished sample of a request with {@code reason} and completes its stream. */
    private void finishRequest(RequestState r, FinishReason reason, String error) {
        if (!inFlight.containsKey(r.id())) {
            // Already ended: a sequence of it still open (forked after the end) must not run on.
            for (Sequence s : r.sequences) {
                if (!s.finished()) {
                    scheduler.remove(s);
                }
            }
            return;
        }
        r.forkPending = false;
        List<Sequence> open = new ArrayList<>();
        for (Sequence s : r.sequences) {
            if (!s.finished()) {
                open.add(s);
            }
        }
        for (int i = 0; i < open.size(); i++) {
            Sequence s = open.get(i);
            scheduler.remove(s);
            metrics.finished.labelValues(reason.openAi()).inc();
            r.finishedSequences++;
            boolean last = i == open.size() - 1;
            RequestDelta.Usage usage = last ? complete(r) : null;
            r.stream.publish(new RequestDelta(s.index, new int[0], "", List.of(), reason, null, usage, last ? error : null));
        }
        if (open.isEmpty()) {
            r.stream.publish(new RequestDelta(0, new int[0], "", List.of(), reason, null, complete(r), error));
        }
    }

    /** Final bookkeeping of a request: usage, latency, admission, forgetting it. */
    private RequestDelta.Usage complete(RequestState r) {
        inFlight.remove(r.id());
        stopStrings.remove(r.id());
        if (!r.admissionReleased) {
            r.admissionReleased = true;
            releaseAdmission(r.request.promptLength());
        }
        metrics.e2eLatency.observe((System.nanoTime() - r.arrivalNanos) / 1e9);
        int out = r.completionTokens();
        averageOutputTokens = averageOutputTokens == 0 ? out : EWMA * out + (1 - EWMA) * averageOutputTokens;
        return new RequestDelta.Usage(r.request.promptLength(), r.completionTokens(), Math.max(0, r.cachedPromptTokens));
    }

    private void failRunning(Throwable e) {
        for (Sequence s : List.copyOf(scheduler.runningSequences())) {
            finishRequest(s.request, FinishReason.ERROR, "engine error: " + e.getMessage());
        }
    }

    private void shutdownRemaining() {
        intake();
        for (RequestState r : List.copyOf(inFlight.values())) {
            finishRequest(r, FinishReason.ABORT, "the engine shut down");
        }
        runner.close();
        model.close();
    }

    private EngineStats snapshot() {
        int running = scheduler.runningCount();
        long waitingTokens = scheduler.waitingPromptTokens();
        minRemainingTokens = scheduler.minRemainingTokens();
        double wait = queueWait(waitingTokens, scheduler.waitingCount(), running, kv.freeBlocks());
        return new EngineStats(running, scheduler.waitingCount(), waitingTokens, kv.usedBlocks(), kv.freeBlocks(), kv.totalBlocks(),
                kv.queriedTokens(), kv.hitTokens(), scheduler.preemptions(), promptTokensDone, generatedTokens, steps,
                generationTokensPerSecond, wait);
    }

    /** Stops the engine thread; requests still in flight end with finish reason "abort". */
    @Override
    public void close() {
        running = false;
        LockSupport.unpark(thread);
        try {
            thread.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
