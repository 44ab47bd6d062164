package io.spillway.server.engine;

/**
 * The engine cannot generate at all (its device failed), and will not until the process is
 * restarted: unlike {@link EngineOverloadedException}, waiting does not help, another replica does.
 */
public final class EngineUnavailableException extends RuntimeException {

    public EngineUnavailableException(String message) {
        super(message);
    }
}
