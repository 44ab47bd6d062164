package io.spillway.server.config;

/** Configuration that cannot be used, with the key (or file, or variable) at fault. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
