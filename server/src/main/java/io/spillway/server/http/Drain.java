package io.spillway.server.http;

import java.time.Duration;

/** Requests in flight, and whether the server has stopped taking new ones (a graceful shutdown). */
final class Drain {

    private int active;
    private volatile boolean draining;

    synchronized void begin() {
        active++;
    }

    synchronized void end() {
        active--;
        if (active == 0) {
            notifyAll();
        }
    }

    void start() {
        draining = true;
    }

    boolean draining() {
        return draining;
    }

    /** Waits until nothing is in flight or {@code grace} passes; returns how many are still running. */
    synchronized int await(Duration grace) throws InterruptedException {
        long end = System.nanoTime() + grace.toNanos();
        while (active > 0) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                break;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return active;
    }
}
