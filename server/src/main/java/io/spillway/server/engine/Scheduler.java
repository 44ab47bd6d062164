package io.spillway.server.engine;

import io.spillway.models.kv.KvCacheManager;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Iteration-level scheduling, as vLLM's v1 engine does it: every step builds one batch under a token
 * budget and a sequence limit. Running sequences go first (a decode costs one token, an unfinished
 * prompt a chunk of it); waiting ones are admitted in arrival order while budget, sequence slots
 * and KV blocks last. When a running sequence needs a block and none is free, the most recently
 * admitted sequence is preempted: its blocks are freed and it waits at the head of the queue to be
 * recomputed (cheaply, when the prefix cache still holds its blocks).
 *
 * <p>Every batch also stays under the transient budget ({@link BatchTransient}): a sequence whose
 * chunk would take attention's transient bytes over it joins with a shorter chunk, or waits for
 * a lighter step. A sequence over the budget alone is scheduled alone, as it would be without a
 * budget: refusing it could strand a conversation that grew past the budget, and a pass that does
 * run out of memory is retried smaller by the engine.
 *
 * <p>Not thread-safe: the engine thread owns it.
 */
final class Scheduler {

    /** A sequence and how many of its uncomputed tokens this step feeds. */
    record Scheduled(Sequence sequence, int tokens) {
    }

    private final EngineConfig config;
    private final KvCacheManager kv;
    private final BatchTransient transients;
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private long preemptions;
    private long waitingPromptTokens;

    Scheduler(EngineConfig config, KvCacheManager kv, StepTransient transientCost) {
        this.config = config;
        this.kv = kv;
        this.transients = new BatchTransient(transientCost, config.transientBudgetBytes());
    }

    void addWaiting(Sequence s) {
        s.status = Sequence.Status.WAITING;
        waiting.addLast(s);
        queue(s);
    }

    /** Forked samples and preempted sequences go to the head of the queue: they are older than anything waiting. */
    void addWaitingFirst(Sequence s) {
        s.status = Sequence.Status.WAITING;
        waiting.addFirst(s);
        queue(s);
    }

    /**
     * Counts what a sequence joining the queue has to compute, and remembers the count so that it
     * leaves with exactly what it came with (a token drawn while it waits does not unbalance it).
     */
    private void queue(Sequence s) {
        s.queuedTokens = s.uncomputed();
        waitingPromptTokens += s.queuedTokens;
    }

    List<Scheduled> schedule() {
        List<Scheduled> batch = new ArrayList<>();
        int budget = config.maxNumBatchedTokens();
        boolean preempted = false;
        transients.clear();
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            if (s.request.held) {
                continue;
            }
            int n = withinTransientBudget(s, Math.min(Math.min(s.uncomputed(), budget),
                    s.prefilling() ? config.maxPrefillChunk() : Integer.MAX_VALUE), batch);
            if (n == 0) {
                continue;
            }
            boolean placed = true;
            while (!kv.ensureCapacity(s.blocks, s.computed + n)) {
                Sequence victim = victimFor(s);
                preempt(victim);
                preempted = true;
                if (victim == s) {
                    placed = false;
                    break;
                }
            }
            if (!placed) {
                break;
            }
            batch.add(new Scheduled(s, n));
            transients.add(s.computed, n);
            budget -= n;
        }
        // After a preemption nothing new is admitted: the preempted sequence is first in line.
        // Held requests wait where they are; those behind them go ahead.
        java.util.Iterator<Sequence> queue = waiting.iterator();
        while (!preempted && budget > 0 && running.size() < config.maxNumSeqs() && queue.hasNext()) {
            Sequence s = queue.next();
            if (s.request.held) {
                continue;
            }
            boolean fresh = s.blocks.size() == 0 && s.computed == 0;
            if (fresh) {
                s.computed = kv.attachCachedPrefix(s.blocks, s.tokens(), s.length());
                if (s.request.cachedPromptTokens < 0 && s.index == 0) {
                    s.request.cachedPromptTokens = Math.min(s.computed, s.promptLength);
                }
            }
            int n = withinTransientBudget(s, Math.min(Math.min(s.uncomputed(), budget), config.maxPrefillChunk()), batch);
            boolean fits = n > 0 && kv.ensureCapacity(s.blocks, s.computed + n);
            // A held request must not keep others out: it gives its blocks back and recomputes later.
            for (Sequence held = lastHeldRunning(); n > 0 && !fits && held != null; held = lastHeldRunning()) {
                preempt(held);
                fits = kv.ensureCapacity(s.blocks, s.computed + n);
            }
            if (!fits) {
                if (fresh) {
                    // Do not sit on shared blocks while waiting: look the prefix up again next time.
                    kv.free(s.blocks);
                    s.computed = 0;
                }
                break;
            }
            queue.remove();
            waitingPromptTokens -= s.queuedTokens;
            s.status = Sequence.Status.RUNNING;
            running.add(s);
            batch.add(new Scheduled(s, n));
            transients.add(s.computed, n);
            budget -= n;
        }
        return batch;
    }

    /** The most of {@code wanted} tokens of {@code s} the transient budget lets join the batch: 0 for none, all of them alone. */
    private int withinTransientBudget(Sequence s, int wanted, List<Scheduled> batch) {
        int n = transients.fit(s.computed, wanted);
        return n == 0 && batch.isEmpty() ? wanted : n;
    }

    /**
     * The most recently admitted running sequence that holds blocks, or {@code s} itself: one
     * holding none (drawing its last token, its blocks already given back) would free nothing.
     */
    private Sequence victimFor(Sequence s) {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence candidate = running.get(i);
            if (candidate == s || candidate.blocks.size() > 0) {
                return candidate;
            }
        }
        return s;
    }

    private Sequence lastHeldRunning() {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence candidate = running.get(i);
            if (candidate.request.held && candidate.blocks.size() > 0) {
                return candidate;
            }
        }
        return null;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        kv.free(s.blocks);
        s.computed = 0;
        preemptions++;
        addWaitingFirst(s);
    }

    /** Takes a finished or cancelled sequence out of scheduling and frees its blocks at once. */
    void remove(Sequence s) {
        if (s.status == Sequence.Status.WAITING && waiting.remove(s)) {
            waitingPromptTokens -= s.queuedTokens;
        } else {
            running.remove(s);
        }
        kv.free(s.blocks);
        s.status = Sequence.Status.FINISHED;
    }

    /** Whether anything can be scheduled: a sequence of a request that is not held. */
    boolean hasWork() {
        for (Sequence s : running) {
            if (!s.request.held) {
                return true;
            }
        }
        for (Sequence s : waiting) {
            if (!s.request.held) {
                return true;
            }
        }
        return false;
    }

    int runningCount() {
        return running.size();
    }

    int waitingCount() {
        return waiting.size();
    }

    long waitingPromptTokens() {
        return waitingPromptTokens;
    }

    long preemptions() {
        return preemptions;
    }

    /** Fewest tokens any running sequence still has to generate (bounded by max_tokens). */
    int minRemainingTokens() {
        int min = Integer.MAX_VALUE;
        for (Sequence s : running) {
            min = Math.min(min, s.sampling.params().maxTokens() - s.generated());
        }
        return min == Integer.MAX_VALUE ? 0 : Math.max(min, 1);
    }

    List<Sequence> runningSequences() {
        return running;
    }

    Deque<Sequence> waitingSequences() {
        return waiting;
    }
}
