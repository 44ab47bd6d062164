package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.spillway.models.DummyShapes;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.kv.KvCacheManager;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The scheduler's choices the engine tests cannot pin down: driven here as the engine drives it. */
class SchedulerTest {

    /**
     * A sequence drawing its last token has given its blocks back and stays running until its
     * token comes: preempting it would free nothing, so a sequence short of a block is preempted
     * in its place, as if it were not there. In a four-block cache, C (16 tokens) and B (32)
     * both need a block and A's is the only one free; C takes it and B, not A, gives way.
     */
    @Test
    void aSequenceHoldingNoBlocksIsNotPreemptedToFindOne() {
        KvCacheManager kv = new KvCacheManager(5, 16, false);
        EngineConfig config = EngineConfig.defaults(false);
        Scheduler scheduler = new Scheduler(config, kv, StepTransient.of(ModelConfig.parse(DummyShapes.smolLm2_135m()), 4));
        Sequence c = TransientBudgetTest.sequence("c", tokens(16), 10, kv);
        Sequence b = TransientBudgetTest.sequence("b", tokens(32), 10, kv);
        Sequence a = TransientBudgetTest.sequence("a", tokens(5), 1, kv);
        for (Sequence s : List.of(c, b, a)) {
            scheduler.addWaiting(s);
        }
        assertEquals(3, scheduler.schedule().size());
        assertEquals(0, kv.freeBlocks());
        // The pass runs: C and B draw a token to go on with; A draws its last and gives its block back.
        for (Sequence s : List.of(c, b, a)) {
            s.computed = s.length();
        }
        c.appendDrawing();
        b.appendDrawing();
        kv.free(a.blocks);

        List<Scheduler.Scheduled> next = scheduler.schedule();
        assertEquals(List.of(c), next.stream().map(Scheduler.Scheduled::sequence).toList());
        assertEquals(1, scheduler.preemptions(), "B alone gave way");
        assertTrue(scheduler.runningSequences().contains(a), "A still runs until its token comes");
        assertEquals(Sequence.Status.WAITING, b.status);
    }

    /**
     * Admitting a waiting sequence may preempt a held one, which goes back to the head of the queue
     * while the queue is being walked: 16 waiting behind a held sequence of four blocks, so that
     * putting it back grows the queue. Every sequence ends up running or waiting, once.
     */
    @Test
    void aHeldSequencePreemptedDuringAdmissionIsQueuedOnceAndTheAdmittedOneLeavesTheQueue() {
        KvCacheManager kv = new KvCacheManager(5, 16, false);
        Scheduler scheduler = new Scheduler(EngineConfig.defaults(false), kv,
                StepTransient.of(ModelConfig.parse(DummyShapes.smolLm2_135m()), 4));
        Sequence held = TransientBudgetTest.sequence("held", tokens(64), 10, kv);
        scheduler.addWaiting(held);
        assertEquals(1, scheduler.schedule().size());
        held.computed = held.length();
        held.appendDrawing();
        held.request.held = true;
        List<Sequence> queued = new java.util.ArrayList<>();
        for (int i = 0; i < 16; i++) {
            Sequence w = TransientBudgetTest.sequence("w" + i, tokens(16), 10, kv);
            queued.add(w);
            scheduler.addWaiting(w);
        }
        List<Sequence> admitted = scheduler.schedule().stream().map(Scheduler.Scheduled::sequence).toList();
        assertEquals(queued.subList(0, 4), admitted, "four blocks, four admitted in order");
        assertEquals(1, scheduler.preemptions());
        List<Sequence> waiting = List.copyOf(scheduler.waitingSequences());
        List<Sequence> expectedWaiting = new java.util.ArrayList<>(List.of(held));
        expectedWaiting.addAll(queued.subList(4, 16));
        assertEquals(expectedWaiting, waiting);
        assertEquals(admitted, scheduler.runningSequences());
    }

    private static int[] tokens(int n) {
        return IntStream.range(0, n).map(i -> 3 + i).toArray();
    }
}
