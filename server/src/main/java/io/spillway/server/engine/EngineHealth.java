package io.spillway.server.engine;

import java.time.Instant;

/**
 * Whether the engine can generate, for the probes: {@code /ready} sends traffic only to a
 * {@link Serving} engine; {@code /health} fails only for a {@link DeviceLost} one, which no wait
 * can mend (a restart of the process, with a fresh device context, can).
 */
public sealed interface EngineHealth {

    /** Words for the probe's body. */
    String status();

    record Serving() implements EngineHealth {
        @Override
        public String status() {
            return "ready";
        }
    }

    /** Closing: requests in flight finish, new ones are refused. */
    record Stopping() implements EngineHealth {
        @Override
        public String status() {
            return "stopping";
        }
    }

    /**
     * A step failed with an error that leaves the device unusable (see {@link StepFailure.DeviceLost}):
     * every request then in flight failed, and new ones are refused.
     *
     * @param reason libtorch's words, first line
     * @param since  when the engine saw it
     */
    record DeviceLost(String reason, Instant since) implements EngineHealth {
        @Override
        public String status() {
            return "device_lost";
        }
    }
}
