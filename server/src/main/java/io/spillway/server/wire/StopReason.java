package io.spillway.server.wire;

/** What ended a choice with {@link FinishReason#STOP}, as vLLM reports it in {@code stop_reason}. */
public sealed interface StopReason {

    /** One of the request's stop strings. */
    record Text(String stop) implements StopReason {
    }

    /** One of the request's stop_token_ids. */
    record Token(int id) implements StopReason {
    }
}
