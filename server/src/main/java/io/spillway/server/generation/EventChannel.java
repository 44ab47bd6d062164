package io.spillway.server.generation;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A {@link Generation} whose events are published by its producer from any thread (an SDK's
 * callback, a cache, a leader request) without blocking, and delivered in order on the
 * subscriber's executor. Events published before the subscription wait in the queue.
 */
public final class EventChannel implements Generation {

    private final ConcurrentLinkedQueue<GenerationEvent> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final Runnable onCancel;
    private final AtomicBoolean cancelled = new AtomicBoolean();
    private volatile Executor executor;
    private volatile Consumer<GenerationEvent> listener;

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
        queue.offer(event);
        scheduleDrain();
    }

    @Override
    public void subscribe(Executor executor, Consumer<GenerationEvent> listener) {
        Objects.requireNonNull(executor);
        Objects.requireNonNull(listener);
        synchronized (this) {
            if (this.listener != null) {
                throw new IllegalStateException("a generation has one subscriber");
            }
            this.executor = executor;
            this.listener = listener;
        }
        scheduleDrain();
    }

    @Override
    public void cancel() {
        if (cancelled.compareAndSet(false, true)) {
            onCancel.run();
        }
    }

    private void scheduleDrain() {
        Executor ex = executor;
        if (ex == null || queue.isEmpty() || !draining.compareAndSet(false, true)) {
            return;
        }
        ex.execute(this::drain);
    }

    private void drain() {
        try {
            GenerationEvent e;
            while ((e = queue.poll()) != null) {
                listener.accept(e);
            }
        } finally {
            draining.set(false);
        }
        // An event published between the last poll and clearing the flag must not be stranded.
        scheduleDrain();
    }
}
