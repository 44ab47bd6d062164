package io.spillway.server.api;

import io.spillway.server.http.ErrorRenderer;
import io.spillway.server.http.Exchange;
import io.spillway.server.http.HttpError;
import io.spillway.server.wire.OpenAiEncoder;
import io.spillway.server.wire.OpenAiException;
import java.util.HashMap;
import java.util.Map;

/** Errors in OpenAI's shape, with Retry-After when there is a time to wait: the API's own and the HTTP layer's. */
final class ApiErrors implements ErrorRenderer {

    private final OpenAiEncoder encoder;

    ApiErrors(OpenAiEncoder encoder) {
        this.encoder = encoder;
    }

    @Override
    public byte[] render(HttpError error) {
        String type = error.status() >= 500 ? "server_error" : "invalid_request_error";
        return encoder.error(new OpenAiException(error.status(), type, error.message(), null, error.code(), error.retryAfterSeconds()));
    }

    static void respond(Exchange ex, OpenAiEncoder encoder, OpenAiException e) {
        respond(ex, encoder, e, Map.of());
    }

    static void respond(Exchange ex, OpenAiEncoder encoder, OpenAiException e, Map<String, String> headers) {
        Map<String, String> all = new HashMap<>(headers);
        if (e.retryAfterSeconds() > 0) {
            all.put("Retry-After", Long.toString((long) Math.ceil(e.retryAfterSeconds())));
        }
        ex.respond(e.status(), "application/json", encoder.error(e), all);
    }
}
