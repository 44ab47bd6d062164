package io.spillway.server.generation;

import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A {@link Generation} whose events are published by its producer from any thread (an SDK's
 * callback, a cache, a leader request) without blocking, and delivered in order on the
 * subscriber's executor. Events published before the subscription wait in the queue.
 */
public final class EventChannel implements Generation {

    private final Mailbox<GenerationEvent> events = new Mailbox<>();
    private final Runnable onCancel;
    private final AtomicBoolean cancelled = new AtomicBoolean();

    /** @param onCancel what stops the producer (run once, on the first {@link #cancel}) */
    public EventChannel(Runnable onCancel) {
        this.onCancel = onCancel;
    }

    /** A finished generation: these events, nothing more. */
    public static EventChannel of(List<GenerationEvent> events) {
        EventChannel channel = new EventChannel(() -> {
        });
        events.forEach(channel::publish);
        return channel;
    }

    public void publish(GenerationEvent event) {
        events.post(event);
    }

    @Override
    public void subscribe(Executor executor, Consumer<GenerationEvent> listener) {
        events.subscribe(executor, listener);
    }

    @Override
    public void cancel() {
        if (cancelled.compareAndSet(false, true)) {
            onCancel.run();
        }
    }
}
