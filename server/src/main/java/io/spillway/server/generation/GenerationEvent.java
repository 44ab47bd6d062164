package io.spillway.server.generation;

import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.Logprob;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Source;
import io.spillway.server.wire.StopReason;
import io.spillway.server.wire.Usage;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a {@link Generation} reports, in order: Started, then each choice's deltas (content,
 * reasoning, tool calls) and its Finished, then Completed or Failed.
 */
public sealed interface GenerationEvent {

    /**
     * The generation runs.
     *
     * @param model             the model that answers, as responses name it
     * @param systemFingerprint the local build and model that answer; empty for a hosted model
     * @param choices           how many choices the answer has
     * @param sources           retrieved passages the prompt was given, when the request asked for retrieval
     * @param tokenOutput       the model has no tokenizer: its answers are token ids
     * @param routeReasons      why it runs where it does, and what happened to its personal data on the way
     *                          ("queue_wait", "pseudonymized", ...); empty where nothing decided (a cached answer)
     * @param sentSha256        for a hosted model, the SHA-256 (hex) of the exact request bytes sent to it
     */
    record Started(Route route, String model, Optional<String> systemFingerprint, CacheOutcome cache, int choices,
                   Optional<List<Source>> sources, boolean tokenOutput, List<String> routeReasons, Optional<String> sentSha256)
            implements GenerationEvent {

        public Started {
            sources = sources.map(List::copyOf);
            routeReasons = List.copyOf(routeReasons);
        }

        /** Before any route was decided: no reasons, nothing sent. */
        public Started(Route route, String model, Optional<String> systemFingerprint, CacheOutcome cache, int choices,
                       Optional<List<Source>> sources, boolean tokenOutput) {
            this(route, model, systemFingerprint, cache, choices, sources, tokenOutput, List.of(), Optional.empty());
        }

        /** As a cache reports it; a reused answer was neither routed nor sent anywhere this time. */
        public Started withCache(CacheOutcome outcome) {
            return outcome.reused()
                    ? new Started(route, model, systemFingerprint, outcome, choices, sources, tokenOutput, List.of(), Optional.empty())
                    : new Started(route, model, systemFingerprint, outcome, choices, sources, tokenOutput, routeReasons, sentSha256);
        }

        public Started withSources(List<Source> retrieved) {
            return new Started(route, model, systemFingerprint, cache, choices, Optional.of(retrieved), tokenOutput, routeReasons,
                    sentSha256);
        }

        public Started withRouteReasons(List<String> reasons) {
            return new Started(route, model, systemFingerprint, cache, choices, sources, tokenOutput, reasons, sentSha256);
        }

        public Started withSentSha256(String hex) {
            return new Started(route, model, systemFingerprint, cache, choices, sources, tokenOutput, routeReasons, Optional.of(hex));
        }
    }

    /** New output of one choice: its text (maybe empty while bytes of a character are pending), token ids, logprobs. */
    record Delta(int choice, String text, int[] tokenIds, List<Logprob> logprobs) implements GenerationEvent {

        public Delta {
            tokenIds = tokenIds.clone();
            logprobs = List.copyOf(logprobs);
        }

        @Override
        public int[] tokenIds() {
            return tokenIds.clone();
        }

        public Delta withText(String replaced) {
            return new Delta(choice, replaced, tokenIds, logprobs);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Delta d && choice == d.choice && text.equals(d.text) && Arrays.equals(tokenIds, d.tokenIds)
                    && logprobs.equals(d.logprobs);
        }

        @Override
        public int hashCode() {
            return 31 * (31 * choice + text.hashCode()) + Arrays.hashCode(tokenIds);
        }
    }

    /** New reasoning text of one choice: a thinking model's block, kept out of its content. */
    record ReasoningDelta(int choice, String text) implements GenerationEvent {

        public ReasoningDelta withText(String replaced) {
            return new ReasoningDelta(choice, replaced);
        }
    }

    /**
     * Part of a tool call of one choice: the first part of each call has its id and function name,
     * every part may carry a fragment of its JSON arguments.
     *
     * @param call the call's position among the choice's calls
     */
    record ToolCallDelta(int choice, int call, Optional<String> id, Optional<String> name, String arguments)
            implements GenerationEvent {

        public ToolCallDelta withArguments(String replaced) {
            return new ToolCallDelta(choice, call, id, name, replaced);
        }
    }

    /**
     * One choice ended.
     *
     * @param aborted it was cut short (the client went away, the server shut down): never cached
     */
    record Finished(int choice, FinishReason reason, Optional<StopReason> stop, boolean aborted) implements GenerationEvent {
    }

    /**
     * What the safety filters found in the request and the answer (types and counts, never values),
     * and the prompt as the audit log may keep it (after redaction; empty unless the caller's policy
     * keeps prompts). Sent once, just before the end.
     */
    record Screened(Map<String, Integer> input, Map<String, Integer> output, Optional<String> loggablePrompt)
            implements GenerationEvent {

        public Screened {
            input = Map.copyOf(input);
            output = Map.copyOf(output);
        }
    }

    /** The generation ended well; the last event. */
    record Completed(Usage usage) implements GenerationEvent {
    }

    /** The generation failed; the last event. */
    record Failed(OpenAiException error) implements GenerationEvent {
    }

    /** Whether this event is the generation's last. */
    default boolean terminal() {
        return this instanceof Completed || this instanceof Failed;
    }
}
