package io.spillway.server.platform.safety;

/** One match in a text: what it is and where ({@code [start, end)}); never the matched value itself. */
public record Finding(String type, int start, int end) {
}
