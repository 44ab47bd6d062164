package io.spillway.server.generation;

import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * A running generation: its {@link GenerationEvent}s, delivered in order, and a way to stop it.
 * Every generation ends with exactly one {@link GenerationEvent.Completed} or
 * {@link GenerationEvent.Failed}.
 */
public interface Generation {

    /**
     * Delivers every event, past and future, to {@code listener} on {@code executor}, one at a
     * time. Once per generation.
     */
    void subscribe(Executor executor, Consumer<GenerationEvent> listener);

    /** Stops generating (the client went away); the generation still ends with its events. */
    void cancel();

    /**
     * Stops producing until {@link #resume}: the caller's reader is not keeping up, and what it has
     * not read must stay bounded. A generation that cannot pause (a remote stream) goes on.
     */
    default void pause() {
    }

    default void resume() {
    }
}
