package io.spillway.server.platform.cache;

import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.ForwardingGeneration;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * One leader's generation shared with identical requests that arrive while it runs: a follower
 * gets every event so far, then each later one as the leader's caller does. The generation stops
 * only when the last of its callers (leader or follower) goes away: a leader whose client
 * disconnects does not cut its followers short.
 */
final class SharedGeneration {

    private final List<GenerationEvent> events = new ArrayList<>();
    private final List<EventChannel> followers = new ArrayList<>();
    private Generation source;
    private int callers = 1;
    private boolean ended;

    /** The leader's view of {@code generation}: its events are recorded and passed on to followers. */
    synchronized Generation lead(Generation generation, Runnable onEnd) {
        this.source = generation;
        return new ForwardingGeneration(generation) {
            @Override
            protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
                publish(event);
                if (event.terminal()) {
                    onEnd.run();
                }
                downstream.accept(event);
            }

            @Override
            public void cancel() {
                leave();
            }

            // Followers read the same answer at their own pace (each has its own queue): one slow
            // reader must not hold the others back.
            @Override
            public void pause() {
            }

            @Override
            public void resume() {
            }
        };
    }

    /** A follower's generation: what the leader produced so far, then the rest as it comes. */
    synchronized Generation follow() {
        callers++;
        EventChannel[] self = new EventChannel[1];
        EventChannel channel = new EventChannel(() -> {
            synchronized (SharedGeneration.this) {
                followers.remove(self[0]);
            }
            leave();
        });
        self[0] = channel;
        events.forEach(e -> channel.publish(forFollower(e)));
        if (!ended) {
            followers.add(channel);
        }
        return channel;
    }

    private synchronized void publish(GenerationEvent event) {
        events.add(event);
        ended |= event.terminal();
        GenerationEvent shared = forFollower(event);
        followers.forEach(f -> f.publish(shared));
        if (ended) {
            followers.clear();
        }
    }

    private static GenerationEvent forFollower(GenerationEvent event) {
        return event instanceof GenerationEvent.Started s ? s.withCache(CacheOutcome.DEDUP) : event;
    }

    private void leave() {
        Generation toCancel = null;
        synchronized (this) {
            if (--callers == 0 && !ended) {
                toCancel = source;
            }
        }
        if (toCancel != null) {
            toCancel.cancel();
        }
    }
}
