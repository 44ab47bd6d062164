package io.spillway.server.generation;

import io.spillway.server.wire.OpenAiException;
import java.util.List;
import java.util.Optional;

/**
 * An error answered after the request was routed: the client sees {@code error}'s status and body;
 * the audit also learns where it was going, why, and the hash of what was handed over for
 * sending (a request Bedrock refused or failed on had still left the box).
 */
public final class RoutedFailure extends OpenAiException {

    private final Route route;
    private final List<String> routeReasons;
    private final Optional<String> sentSha256;

    public RoutedFailure(OpenAiException error, Route route, List<String> routeReasons, Optional<String> sentSha256) {
        super(error.status(), error.type(), error.getMessage(), error.param(), error.code(), error.retryAfterSeconds());
        initCause(error);
        this.route = route;
        this.routeReasons = List.copyOf(routeReasons);
        this.sentSha256 = sentSha256;
    }

    public Route route() {
        return route;
    }

    public List<String> routeReasons() {
        return routeReasons;
    }

    public Optional<String> sentSha256() {
        return sentSha256;
    }

    /** The same failure with the reasons the router gave. */
    public RoutedFailure withRouteReasons(List<String> reasons) {
        return new RoutedFailure((OpenAiException) getCause(), route, reasons, sentSha256);
    }
}
