package io.spillway.server.wire;

/**
 * A request the API answers with an error in OpenAI's shape
 * ({@code {"error": {"message", "type", "param", "code"}}}, written by {@link OpenAiEncoder#error})
 * and the HTTP status OpenAI uses for it.
 */
public class OpenAiException extends RuntimeException {

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final double retryAfterSeconds;

    public OpenAiException(int status, String type, String message, String param, String code, double retryAfterSeconds) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400: a malformed or out-of-range request, naming the parameter at fault. */
    public static OpenAiException invalid(String message, String param) {
        return new OpenAiException(400, "invalid_request_error", message, param, null, 0);
    }

    public static OpenAiException invalid(String message, String param, String code) {
        return new OpenAiException(400, "invalid_request_error", message, param, code, 0);
    }

    public static OpenAiException unauthorized(String message) {
        return new OpenAiException(401, "invalid_request_error", message, null, "invalid_api_key", 0);
    }

    public static OpenAiException modelNotFound(String model) {
        return new OpenAiException(404, "invalid_request_error",
                "The model `" + model + "` does not exist or you do not have access to it.", "model", "model_not_found", 0);
    }

    public static OpenAiException notFound(String message) {
        return new OpenAiException(404, "invalid_request_error", message, null, "not_found", 0);
    }

    public static OpenAiException methodNotAllowed(String message) {
        return new OpenAiException(405, "invalid_request_error", message, null, "method_not_allowed", 0);
    }

    public static OpenAiException overloaded(String message, double retryAfterSeconds) {
        return new OpenAiException(503, "server_error", message, null, "overloaded", retryAfterSeconds);
    }

    public static OpenAiException internal(String message) {
        return new OpenAiException(500, "server_error", message, null, "internal_error", 0);
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    public String code() {
        return code;
    }

    /** Seconds to wait before retrying (503 and 429), or 0. */
    public double retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
