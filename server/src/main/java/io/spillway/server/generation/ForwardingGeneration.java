package io.spillway.server.generation;

import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * A stage's view of the generation it wraps: every event passes through {@link #onEvent}, on the
 * subscriber's executor and one at a time, so a stage keeps its per-request state without locks.
 */
public abstract class ForwardingGeneration implements Generation {

    private final Generation inner;

    protected ForwardingGeneration(Generation inner) {
        this.inner = inner;
    }

    @Override
    public void subscribe(Executor executor, Consumer<GenerationEvent> listener) {
        inner.subscribe(executor, event -> onEvent(event, listener));
    }

    @Override
    public void cancel() {
        inner.cancel();
    }

    @Override
    public void pause() {
        inner.pause();
    }

    @Override
    public void resume() {
        inner.resume();
    }

    /** Handles one event of the inner generation; passes on what the subscriber should see. */
    protected abstract void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream);
}
