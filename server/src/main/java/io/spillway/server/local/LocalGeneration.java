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
        channel.publish(new GenerationEvent.Delta(choice, text, d.tokenIds(), logprobs));
        if (d.finishReason() != null) {
            Optional<StopReason> stop = switch (d.stopReason()) {
                case null -> Optional.empty();
                case Integer token -> Optional.of(new StopReason.Token(token));
                default -> Optional.of(new StopReason.Text(d.stopReason().toString()));
            };
            channel.publish(new GenerationEvent.Finished(choice, finishReason(d.finishReason()), stop,
                    d.finishReason() == FinishReason.ABORT));
        }
        if (d.usage() != null) {
            usage = usage.plus(new Usage(d.usage().promptTokens(), d.usage().completionTokens(), d.usage().cachedPromptTokens(), 0));
            if (++finishedJobs == jobs.size()) {
                channel.publish(new GenerationEvent.Completed(usage));
            }
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
