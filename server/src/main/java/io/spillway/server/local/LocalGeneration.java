package io.spillway.server.local;

import io.spillway.models.sampling.Sample;
import io.spillway.models.sampling.TokenLogprob;
import io.spillway.server.engine.FinishReason;
import io.spillway.server.engine.RequestDelta;
import io.spillway.server.engine.RequestStream;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.Generation;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.Route;
import io.spillway.server.output.OutputParser;
import io.spillway.server.output.OutputPiece;
import io.spillway.server.wire.GenerationOptions;
import io.spillway.server.wire.Logprob;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.StopReason;
import io.spillway.server.wire.Usage;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * The engine's output for one request (one engine request per prompt) as events: choices numbered
 * across prompts, an echoed prompt in front of its choices' text, token texts and offsets for
 * logprobs, and one usage for the whole request.
 */
final class LocalGeneration implements Generation {

    private final ServedModel model;
    private final String systemFingerprint;
    private final List<LocalGenerator.Job> jobs;
    private final List<RequestStream> streams;
    private final GenerationOptions options;
    private final boolean echo;
    private final EventChannel channel;
    /** Per choice: where the next token starts in the choice's text. */
    private final Map<Integer, Integer> offsets = new HashMap<>();
    /** Per choice of a job whose answers carry markup: its reader. */
    private final Map<Integer, OutputParser> parsers = new HashMap<>();
    private int reasoningTokens;
    private Usage usage = Usage.NONE;
    private int finishedJobs;
    private boolean failed;

    LocalGeneration(ServedModel model, String systemFingerprint, List<LocalGenerator.Job> jobs, List<RequestStream> streams,
                    GenerationOptions options, boolean echo) {
        this.model = model;
        this.systemFingerprint = systemFingerprint;
        this.jobs = jobs;
        this.streams = streams;
        this.options = options;
        this.echo = echo;
        this.channel = new EventChannel(() -> streams.forEach(RequestStream::cancel));
    }

    @Override
    public void subscribe(Executor executor, Consumer<GenerationEvent> listener) {
        int choices = jobs.size() * options.n();
        channel.publish(new GenerationEvent.Started(Route.LOCAL, model.name(), Optional.of(systemFingerprint), CacheOutcome.BYPASS,
                choices, Optional.empty(), model.tokenizer().isEmpty()));
        channel.subscribe(executor, listener);
        for (int j = 0; j < streams.size(); j++) {
            LocalGenerator.Job job = jobs.get(j);
            streams.get(j).subscribe(executor, d -> onDelta(job, d));
        }
    }

    @Override
    public void cancel() {
        channel.cancel();
    }

    @Override
    public void pause() {
        streams.forEach(RequestStream::hold);
    }

    @Override
    public void resume() {
        streams.forEach(RequestStream::release);
    }

    /** Deltas of the request's prompts may come on different threads of the executor: one at a time here. */
    private synchronized void onDelta(LocalGenerator.Job job, RequestDelta d) {
        if (failed) {
            return;
        }
        if (d.finishReason() == FinishReason.ERROR) {
            failed = true;
            channel.publish(new GenerationEvent.Failed(OpenAiException.internal("Generation failed: " + d.error())));
            return;
        }
        int choice = job.firstChoice() + d.index();
        String text = d.text();
        if (echo && !offsets.containsKey(choice)) {
            text = promptText(job) + text;
        }
        int offset = offsets.computeIfAbsent(choice, c -> echo ? promptText(job).length() : 0);
        List<Logprob> logprobs = new ArrayList<>(d.logprobs().size());
        for (Sample s : d.logprobs()) {
            String token = model.tokenText(s.token());
            List<Logprob.Alternative> top = new ArrayList<>(s.top().size());
            for (TokenLogprob t : s.top()) {
                top.add(new Logprob.Alternative(model.tokenText(t.token()), t.logprob()));
            }
            logprobs.add(new Logprob(token, s.logprob(), top, offset));
            offset += token.length();
        }
        offsets.put(choice, offset);
        OutputParser parser = job.output().plain() ? null : parsers.computeIfAbsent(choice, c -> new OutputParser(
                job.output().reasoning(), job.output().startsInReasoning(), job.output().tools(), job.output().maxToolCalls()));
        if (parser == null) {
            channel.publish(new GenerationEvent.Delta(choice, text, d.tokenIds(), logprobs));
        } else {
            boolean wasReasoning = parser.inReasoning();
            List<OutputPiece> pieces = new ArrayList<>(parser.add(text));
            if (d.finishReason() != null) {
                pieces.addAll(parser.finish());
            }
            if (wasReasoning || pieces.stream().anyMatch(p -> p instanceof OutputPiece.Reasoning)) {
                reasoningTokens += d.tokenIds().length;
            }
            publish(choice, pieces, d.tokenIds(), logprobs);
        }
        if (d.finishReason() != null) {
            Optional<StopReason> stop = switch (d.stopReason()) {
                case null -> Optional.empty();
                case Integer token -> Optional.of(new StopReason.Token(token));
                default -> Optional.of(new StopReason.Text(d.stopReason().toString()));
            };
            io.spillway.server.wire.FinishReason reason = finishReason(d.finishReason());
            if (reason == io.spillway.server.wire.FinishReason.STOP && parser != null && parser.toolCalls() > 0) {
                reason = io.spillway.server.wire.FinishReason.TOOL_CALLS;
            }
            channel.publish(new GenerationEvent.Finished(choice, reason, stop, d.finishReason() == FinishReason.ABORT));
        }
        if (d.usage() != null) {
            usage = usage.plus(new Usage(d.usage().promptTokens(), d.usage().completionTokens(), d.usage().cachedPromptTokens(), 0));
            if (++finishedJobs == jobs.size()) {
                channel.publish(new GenerationEvent.Completed(new Usage(usage.promptTokens(), usage.completionTokens(),
                        usage.cachedTokens(), reasoningTokens, 0)));
            }
        }
    }

    /**
     * A delta read into its parts, in order; the tokens' ids and logprobs go with its first content
     * (or with an empty content delta when it had none).
     */
    private void publish(int choice, List<OutputPiece> pieces, int[] tokenIds, List<Logprob> logprobs) {
        boolean attached = false;
        for (OutputPiece piece : pieces) {
            switch (piece) {
                case OutputPiece.Content c -> {
                    if (c.text().isEmpty()) {
                        continue;
                    }
                    channel.publish(new GenerationEvent.Delta(choice, c.text(), attached ? new int[0] : tokenIds,
                            attached ? List.of() : logprobs));
                    attached = true;
                }
                case OutputPiece.Reasoning r -> channel.publish(new GenerationEvent.ReasoningDelta(choice, r.text()));
                case OutputPiece.ToolCall t -> {
                    channel.publish(new GenerationEvent.ToolCallDelta(choice, t.index(), Optional.of(t.id()), Optional.of(t.name()), ""));
                    channel.publish(new GenerationEvent.ToolCallDelta(choice, t.index(), Optional.empty(), Optional.empty(), t.arguments()));
                }
            }
        }
        if (!attached) {
            channel.publish(new GenerationEvent.Delta(choice, "", tokenIds, logprobs));
        }
    }

    private String promptText(LocalGenerator.Job job) {
        if (job.promptText() != null) {
            return job.promptText();
        }
        return model.tokenizer().map(t -> t.decode(job.prompt(), false)).orElse("");
    }

    private static io.spillway.server.wire.FinishReason finishReason(FinishReason reason) {
        return switch (reason) {
            case LENGTH, TIMEOUT -> io.spillway.server.wire.FinishReason.LENGTH;
            case STOP, ABORT, ERROR, WITHDRAWN -> io.spillway.server.wire.FinishReason.STOP;
        };
    }
}
