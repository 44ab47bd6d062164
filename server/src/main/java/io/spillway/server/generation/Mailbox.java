package io.spillway.server.generation;

import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Messages posted from any thread without blocking, delivered in order to one subscriber on its
 * executor, one at a time. Messages posted before the subscription wait in the queue.
 */
public final class Mailbox<T> {

    private final ConcurrentLinkedQueue<T> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean draining = new AtomicBoolean();
    private volatile Executor executor;
    private volatile Consumer<T> consumer;

    public void post(T message) {
        queue.offer(message);
        scheduleDrain();
    }

    /** Delivers every message, past and future, to {@code consumer} on {@code executor}. Once per mailbox. */
    public void subscribe(Executor executor, Consumer<T> consumer) {
        Objects.requireNonNull(executor);
        Objects.requireNonNull(consumer);
        synchronized (this) {
            if (this.consumer != null) {
                throw new IllegalStateException("a mailbox has one subscriber");
            }
            this.executor = executor;
            this.consumer = consumer;
        }
        scheduleDrain();
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
            T m;
            while ((m = queue.poll()) != null) {
                consumer.accept(m);
            }
        } finally {
            draining.set(false);
        }
        // A message posted between the last poll and clearing the flag must not be stranded.
        scheduleDrain();
    }
}
