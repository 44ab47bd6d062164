package io.spillway.server.local;

import io.spillway.models.checkpoint.GenerationConfig;
import io.spillway.models.grammar.CompiledGrammar;
import io.spillway.models.sampling.InvalidSamplingParameterException;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.tokenizer.TextTokenizer;
import io.spillway.server.engine.EngineOverloadedException;
import io.spillway.server.engine.EngineUnavailableException;
import io.spillway.server.engine.EngineRequest;
import io.spillway.server.engine.FinishReason;
import io.spillway.server.engine.PromptTooLongException;
import io.spillway.server.engine.RequestDelta;
import io.spillway.server.engine.RequestStream;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.PromptMeter;
import io.spillway.server.generation.Refusal;
import io.spillway.server.generation.Start;
import io.spillway.server.output.ToolCallFormat;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.CompletionRequest;
import io.spillway.server.wire.GenerationOptions;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Prompt;
import io.spillway.server.wire.TokenIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * The local engine as a {@link Generator}: renders and tokenizes the prompt, fills what the
 * request left out from the model's generation_config.json, checks what only the model can (its
 * vocabulary, its context), submits one engine request per prompt and turns the engine's deltas
 * into events.
 */
public final class LocalGenerator implements Generator, PromptMeter {

    private final ServedModel model;
    private final String systemFingerprint;
    private final Constraints constraints;

    public LocalGenerator(ServedModel model, String systemFingerprint) {
        this.model = model;
        this.systemFingerprint = systemFingerprint;
        this.constraints = new Constraints(model);
    }

    /** One prompt of a request: its tokens, its text when it has one (for echo), its first choice's index. */
    record Job(int[] prompt, String promptText, int firstChoice, SamplingParams sampling, OutputReading output,
               Optional<CompiledGrammar> grammar) {
    }

    /**
     * How a job's answers are read: a reasoning block split off (a thinking model; already open when
     * the template opened it at the end of the prompt), tool calls read in the model's format, at
     * most {@code maxToolCalls} of them (one when the client turned parallel calls off).
     */
    record OutputReading(boolean reasoning, boolean startsInReasoning, Optional<ToolCallFormat> tools, int maxToolCalls) {

        static final OutputReading PLAIN = new OutputReading(false, false, Optional.empty(), 0);

        boolean plain() {
            return !reasoning && tools.isEmpty();
        }
    }

    @Override
    public Start start(GenerationRequest request) {
        List<Job> jobs = switch (request.body()) {
            case ChatRequest chat -> List.of(chatJob(chat));
            case CompletionRequest completion -> completionJobs(completion);
        };
        boolean chat = request.body() instanceof ChatRequest;
        List<RequestStream> streams = new ArrayList<>();
        String id = UUID.randomUUID().toString();
        try {
            for (int i = 0; i < jobs.size(); i++) {
                streams.add(model.engine().submit(new EngineRequest(id + "-" + i, jobs.get(i).prompt(), jobs.get(i).sampling(),
                        request.caller().cacheSalt(), request.maxQueueWaitSeconds(), jobs.get(i).grammar())));
            }
        } catch (EngineOverloadedException e) {
            streams.forEach(RequestStream::cancel);
            return new Start.Refused(e.queueWaitExceeded() ? new Refusal.WaitTooLong(e.getMessage(), e.retryAfterSeconds())
                    : new Refusal.QueueFull(e.getMessage(), e.retryAfterSeconds()));
        } catch (EngineUnavailableException e) {
            streams.forEach(RequestStream::cancel);
            // Waiting does not mend a lost device; a client retrying reaches another replica.
            return new Start.Refused(new Refusal.Unavailable(e.getMessage(), 1));
        } catch (PromptTooLongException e) {
            streams.forEach(RequestStream::cancel);
            throw contextExceeded(e.maxModelLength(), e.promptTokens(), 0, chat);
        } catch (IllegalArgumentException e) {
            streams.forEach(RequestStream::cancel);
            throw OpenAiException.invalid(e.getMessage(), chat ? "messages" : "prompt");
        }
        if (request.maxQueueWaitSeconds() > 0) {
            // Held until every prompt has started: a request withdrawn from the queue has sent
            // nothing yet, so whoever set the limit can still send it elsewhere.
            for (RequestStream s : streams) {
                if (s.firstDelta().join().finishReason() == FinishReason.WITHDRAWN) {
                    streams.forEach(RequestStream::cancel);
                    return new Start.Refused(new Refusal.DeadlinePassed("the local queue did not start this request within its wait"
                            + " limit", 1));
                }
            }
        }
        return new Start.Accepted(new LocalGeneration(model, systemFingerprint, jobs, streams, request.body().options(),
                request.completion().map(CompletionRequest::echo).orElse(false)));
    }

    @Override
    public int promptTokens(ChatRequest request) {
        TextTokenizer tokenizer = model.requireTokenizer("chat");
        return tokenizer.encode(ChatPrompts.render(model, request.messages(), request.tools().tools(), request.template()),
                request.template().addSpecialTokens()).length;
    }

    @Override
    public int maxModelLength() {
        return model.maxModelLength();
    }

    private Job chatJob(ChatRequest chat) {
        TextTokenizer tokenizer = model.requireTokenizer("chat");
        String text = ChatPrompts.render(model, chat.messages(), chat.tools().tools(), chat.template());
        int[] ids = tokenizer.encode(text, chat.template().addSpecialTokens());
        if (ids.length == 0) {
            throw OpenAiException.invalid("The rendered conversation encodes to no tokens.", "messages");
        }
        Optional<ToolCallFormat> tools = chat.tools().offered() ? Optional.of(model.toolCallFormat()) : Optional.empty();
        OutputReading reading = new OutputReading(model.thinks(), model.thinks() && text.stripTrailing().endsWith("<think>"), tools,
                chat.tools().parallel() ? Integer.MAX_VALUE : 1);
        SamplingParams sampling = sampling(chat.options(), ids.length, true);
        if (tools.isPresent() && tools.get().markupIsSpecialToken()) {
            // Its calls start with a special token, which the text must keep to be read.
            sampling = sampling.toBuilder().skipSpecialTokens(false).build();
        }
        return new Job(ids, text, 0, sampling, reading, constraints.forChat(chat, text));
    }

    private List<Job> completionJobs(CompletionRequest completion) {
        List<Job> jobs = new ArrayList<>();
        List<Prompt> prompts = completion.prompts();
        Optional<CompiledGrammar> grammar = constraints.forCompletion(completion.options().format());
        for (int i = 0; i < prompts.size(); i++) {
            int[] ids;
            String text;
            switch (prompts.get(i)) {
                case Prompt.Text t -> {
                    ids = model.requireTokenizer("a text prompt").encode(t.text(), true);
                    text = t.text();
                }
                case Prompt.Tokens t -> {
                    ids = t.ids();
                    TokenIds.requireInVocabulary(ids, model.vocabSize(), prompts.size() == 1 ? "prompt" : "prompt[" + i + "]", "prompt");
                    text = null;
                }
            }
            if (ids.length == 0) {
                throw OpenAiException.invalid("Invalid 'prompt': a prompt encodes to no tokens.", "prompt");
            }
            jobs.add(new Job(ids, text, i * completion.options().n(), sampling(completion.options(), ids.length, false),
                    OutputReading.PLAIN, grammar));
        }
        return jobs;
    }

    /** The engine's parameters: the request's, then the model's generation_config.json, then OpenAI's defaults. */
    private SamplingParams sampling(GenerationOptions o, int promptTokens, boolean chat) {
        int maxModelLength = model.maxModelLength();
        if (promptTokens >= maxModelLength) {
            throw contextExceeded(maxModelLength, promptTokens, 0, chat);
        }
        int maxTokens;
        if (o.maxTokens().isPresent()) {
            long requested = o.maxTokens().get();
            if (promptTokens + requested > maxModelLength) {
                throw contextExceeded(maxModelLength, promptTokens, requested, chat);
            }
            maxTokens = (int) requested;
        } else {
            int room = maxModelLength - promptTokens;
            maxTokens = chat ? room : Math.min(16, room);
        }
        int vocab = model.vocabSize();
        TokenIds.requireInVocabulary(o.stopTokenIds().stream().mapToInt(Integer::intValue).sorted().toArray(), vocab, "stop_token_ids",
                "stop_token_ids");
        TokenIds.requireInVocabulary(o.logitBias().keySet().stream().mapToInt(Integer::intValue).sorted().toArray(), vocab,
                "logit_bias", "logit_bias");
        GenerationConfig defaults = model.engine().model().generationConfig();
        try {
            return SamplingParams.builder()
                    .maxTokens(maxTokens)
                    .n(o.n())
                    .temperature(o.temperature().orElse(defaults.temperature().orElse(1.0)))
                    .topP(o.topP().orElse(defaults.topP().orElse(1.0)))
                    .topK(o.topK().orElse(defaults.topK().orElse(-1)))
                    .minP(o.minP().orElse(defaults.minP().orElse(0.0)))
                    .repetitionPenalty(o.repetitionPenalty().orElse(defaults.repetitionPenalty().orElse(1.0)))
                    .presencePenalty(o.presencePenalty())
                    .frequencyPenalty(o.frequencyPenalty())
                    .seed(o.seed().orElse(null))
                    .stop(o.stop())
                    .stopTokenIds(o.stopTokenIds())
                    .logitBias(o.logitBias())
                    .minTokens(o.minTokens())
                    .ignoreEos(o.ignoreEos())
                    .skipSpecialTokens(o.skipSpecialTokens())
                    .logprobs(o.logprobs().orElse(null))
                    .build();
        } catch (InvalidSamplingParameterException e) {
            throw OpenAiException.invalid("Invalid '" + e.parameter() + "': " + e.getMessage(), e.parameter());
        }
    }

    static OpenAiException contextExceeded(int maxModelLength, int promptTokens, long completionTokens, boolean chat) {
        String where = chat ? "messages" : "prompt";
        return OpenAiException.invalid("This model's maximum context length is " + maxModelLength + " tokens. However, you requested "
                + (promptTokens + completionTokens) + " tokens (" + promptTokens + " in the " + where + ", " + completionTokens
                + " in the completion). Please reduce the length of the " + where + " or completion.", where, "context_length_exceeded");
    }
}
