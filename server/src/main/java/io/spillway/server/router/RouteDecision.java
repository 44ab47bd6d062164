package io.spillway.server.router;

/** Where one request goes and why (the reason is a metric label and shows in logs). */
public record RouteDecision(Route route, String reason) {

    public enum Route {
        LOCAL, BEDROCK;

        public String wireName() {
            return this == LOCAL ? "local" : "bedrock";
        }
    }

    public static RouteDecision local(String reason) {
        return new RouteDecision(Route.LOCAL, reason);
    }

    public static RouteDecision bedrock(String reason) {
        return new RouteDecision(Route.BEDROCK, reason);
    }
}
