package io.spillway.server.engine;

import io.spillway.models.sampling.Draw;
import java.util.List;

/**
 * What one forward pass runs: the scheduled sequences (each with the count of its tokens this
 * pass feeds) and the draws from the logits rows of those whose tokens it completes. Outside the
 * engine only the shape is visible, for whatever wraps the {@link BatchRunner}.
 */
public final class StepBatch {

    private final List<Scheduler.Scheduled> scheduled;
    private final List<Draw> draws;

    StepBatch(List<Scheduler.Scheduled> scheduled, List<Draw> draws) {
        this.scheduled = List.copyOf(scheduled);
        this.draws = List.copyOf(draws);
    }

    List<Scheduler.Scheduled> scheduled() {
        return scheduled;
    }

    List<Draw> draws() {
        return draws;
    }

    /** The request of each sequence in the pass, in batch order (a request's n samples repeat it). */
    public List<String> requestIds() {
        return scheduled.stream().map(s -> s.sequence().request.id()).toList();
    }

    /** Sequences in the pass. */
    public int sequences() {
        return scheduled.size();
    }

    /** Tokens the pass feeds, over all its sequences. */
    public int tokens() {
        return scheduled.stream().mapToInt(Scheduler.Scheduled::tokens).sum();
    }
}
