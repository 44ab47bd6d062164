package io.spillway.server.router;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.server.config.ServerConfig;
import io.spillway.server.generation.CacheOutcome;
import io.spillway.server.generation.EventChannel;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Route;
import io.spillway.server.generation.RoutedFailure;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.FinishReason;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.Usage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseResponse;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseStreamResponseHandler;
import software.amazon.awssdk.services.bedrockruntime.model.TokenUsage;

/**
 * Chat completions on Amazon Bedrock (Converse, ConverseStream), as events. A failure before the
 * answer starts is an error of {@link #start}; one in the middle of a stream ends it with
 * {@link GenerationEvent.Failed}.
 */
public final class BedrockGenerator implements SpillTarget {

    private final BedrockGateway gateway;
    /** Model names clients send, to Bedrock's model ids. */
    private final Map<String, String> modelIds;
    private final Counter failures;
    /** Typical time from calling ConverseStream to its first content, learnt (EWMA); 0 until known. */
    private volatile double firstTokenSeconds;

    /** @param models the served model names; those with a Bedrock model id are served here */
    public BedrockGenerator(BedrockGateway gateway, List<ServerConfig.ModelRoute> models, PrometheusRegistry registry) {
        this.gateway = gateway;
        Map<String, String> ids = new LinkedHashMap<>();
        models.stream().filter(ServerConfig.ModelRoute::onBedrock).forEach(m -> ids.put(m.name(), m.bedrockModelId()));
        this.modelIds = Map.copyOf(ids);
        this.failures = Counter.builder().name("spillway_router_bedrock_failures_total")
                .help("Bedrock calls that failed after retries").register(registry);
    }

    @Override
    public boolean available() {
        return gateway.available();
    }

    @Override
    public double typicalFirstTokenSeconds() {
        return firstTokenSeconds;
    }

    @Override
    public Start start(GenerationRequest request) {
        ChatRequest chat = request.chat().orElseThrow(() -> OpenAiException.modelNotFound(request.model()));
        String modelId = modelIds.get(chat.model());
        if (modelId == null) {
            throw OpenAiException.modelNotFound(chat.model());
        }
        ConverseTranslation.Translated t = ConverseTranslation.request(chat);
        GenerationEvent.Started started = new GenerationEvent.Started(Route.BEDROCK, chat.model(), Optional.empty(), CacheOutcome.BYPASS,
                1, Optional.empty(), false);
        AtomicReference<String> sentSha256 = new AtomicReference<>();
        if (!chat.delivery().stream()) {
            ConverseRequest.Builder converse = ConverseRequest.builder().modelId(modelId).system(t.system()).messages(t.messages())
                    .inferenceConfig(t.inference())
                    .overrideConfiguration(o -> o.putExecutionAttribute(BedrockGateway.SENT_SHA256, sentSha256));
            t.tools().ifPresent(converse::toolConfig);
            ConverseResponse r;
            try {
                r = gateway.converse(converse.build());
            } catch (BedrockGateway.BedrockException e) {
                throw new RoutedFailure(failure(e), Route.BEDROCK, List.of(), Optional.ofNullable(sentSha256.get()));
            }
            List<GenerationEvent> events = new ArrayList<>();
            events.add(sent(started, sentSha256));
            StringBuilder text = new StringBuilder();
            int calls = 0;
            for (ContentBlock b : r.output().message().content()) {
                if (b.text() != null && !t.jsonResponse()) {
                    text.append(b.text());
                } else if (b.toolUse() != null && t.jsonResponse()) {
                    text.append(JsonDocuments.json(b.toolUse().input()));
                } else if (b.toolUse() != null && calls < t.maxCalls()) {
                    events.add(new GenerationEvent.ToolCallDelta(0, calls, Optional.of(b.toolUse().toolUseId()),
                            Optional.of(b.toolUse().name()), ""));
                    events.add(new GenerationEvent.ToolCallDelta(0, calls++, Optional.empty(), Optional.empty(),
                            JsonDocuments.json(b.toolUse().input()).toString()));
                }
            }
            events.add(1, new GenerationEvent.Delta(0, text.toString(), new int[0], List.of()));
            events.add(new GenerationEvent.Finished(0, finishReason(r.stopReason(), t.maxCalls() > 0), Optional.empty(), false));
            events.add(new GenerationEvent.Completed(usage(r.usage())));
            return new Start.Accepted(EventChannel.of(events));
        }
        StreamListener listener = new StreamListener(started, sentSha256, t.jsonResponse(), t.maxCalls(), System.nanoTime());
        ConverseStreamRequest.Builder converse = ConverseStreamRequest.builder().modelId(modelId).system(t.system())
                .messages(t.messages()).inferenceConfig(t.inference())
                .overrideConfiguration(o -> o.putExecutionAttribute(BedrockGateway.SENT_SHA256, sentSha256));
        t.tools().ifPresent(converse::toolConfig);
        CompletableFuture<Void> call = gateway.converseStream(converse.build(), listener);
        call.exceptionally(e -> null);
        listener.cancelWith(call);
        listener.startedOrFailed.join();
        if (listener.failedBeforeStart != null) {
            throw new RoutedFailure(failure(listener.failedBeforeStart), Route.BEDROCK, List.of(), Optional.ofNullable(sentSha256.get()));
        }
        return new Start.Accepted(listener.channel);
    }

    /** Started, with the hash of what was sent once the answer shows it was. */
    private static GenerationEvent.Started sent(GenerationEvent.Started started, AtomicReference<String> sentSha256) {
        String hex = sentSha256.get();
        return hex == null ? started : started.withSentSha256(hex);
    }

    /**
     * A stop to call tools is tool_calls only if the calls reach the client: a JSON response comes as
     * the forced tool's call, and a call the client did not allow is dropped; either is an answer that stopped.
     */
    private static FinishReason finishReason(software.amazon.awssdk.services.bedrockruntime.model.StopReason reason, boolean callsAllowed) {
        FinishReason r = ConverseTranslation.finishReason(reason);
        return !callsAllowed && r == FinishReason.TOOL_CALLS ? FinishReason.STOP : r;
    }

    private OpenAiException failure(BedrockGateway.BedrockException e) {
        if (e.clientError()) {
            return OpenAiException.invalid("Amazon Bedrock refused the request: " + e.getMessage(), null);
        }
        failures.inc();
        return OpenAiException.overloaded("The local engine is saturated and Amazon Bedrock is failing (" + e.getMessage()
                + "). Retry shortly.", 5);
    }

    private static Usage usage(TokenUsage u) {
        if (u == null) {
            return Usage.NONE;
        }
        return new Usage(orZero(u.inputTokens()), orZero(u.outputTokens()), orZero(u.cacheReadInputTokens()), 0);
    }

    private static int orZero(Integer n) {
        return n == null ? 0 : n;
    }

    private void learnFirstToken(double seconds) {
        double current = firstTokenSeconds;
        firstTokenSeconds = current == 0 ? seconds : 0.2 * seconds + 0.8 * current;
    }

    /** ConverseStream's events, on SDK threads, into the generation's channel. */
    private final class StreamListener implements BedrockGateway.StreamListener {
        private final GenerationEvent.Started started;
        private final AtomicReference<String> sentSha256;
        private final boolean jsonResponse;
        private final int maxCalls;
        private final long calledNanos;
        /** Converse's content block index of each tool call passed on, to the call's position among the answer's calls. */
        private final java.util.Map<Integer, Integer> callIndex = new java.util.concurrent.ConcurrentHashMap<>();
        private final CompletableFuture<Void> startedOrFailed = new CompletableFuture<>();
        private volatile CompletableFuture<Void> call;
        private final EventChannel channel = new EventChannel(() -> {
            CompletableFuture<Void> c = call;
            if (c != null) {
                c.cancel(true);
            }
        });
        private volatile BedrockGateway.BedrockException failedBeforeStart;
        private volatile FinishReason finishReason = FinishReason.STOP;
        private volatile Usage usage = Usage.NONE;
        private boolean firstContent = true;

        StreamListener(GenerationEvent.Started started, AtomicReference<String> sentSha256, boolean jsonResponse, int maxCalls,
                       long calledNanos) {
            this.started = started;
            this.sentSha256 = sentSha256;
            this.jsonResponse = jsonResponse;
            this.maxCalls = maxCalls;
            this.calledNanos = calledNanos;
        }

        void cancelWith(CompletableFuture<Void> call) {
            this.call = call;
        }

        @Override
        public void onStart() {
            channel.publish(sent(started, sentSha256));
            startedOrFailed.complete(null);
        }

        @Override
        public ConverseStreamResponseHandler.Visitor visitor() {
            return ConverseStreamResponseHandler.Visitor.builder()
                    .onContentBlockStart(e -> {
                        if (e.start() != null && e.start().toolUse() != null && callIndex.size() < maxCalls) {
                            int call = callIndex.size();
                            callIndex.put(e.contentBlockIndex(), call);
                            firstContentArrived();
                            channel.publish(new GenerationEvent.ToolCallDelta(0, call, Optional.of(e.start().toolUse().toolUseId()),
                                    Optional.of(e.start().toolUse().name()), ""));
                        }
                    })
                    .onContentBlockDelta(e -> {
                        if (e.delta() == null) {
                            return;
                        }
                        String text = e.delta().text();
                        String input = e.delta().toolUse() == null ? null : e.delta().toolUse().input();
                        if (input != null && !jsonResponse) {
                            // A call's arguments, unless the call is one not passed on.
                            Integer call = callIndex.get(e.contentBlockIndex());
                            if (call != null && !input.isEmpty()) {
                                channel.publish(new GenerationEvent.ToolCallDelta(0, call, Optional.empty(), Optional.empty(), input));
                            }
                            return;
                        }
                        // Under a JSON format the forced tool's input is the whole answer: text the
                        // model writes beside it would make the content something else than JSON.
                        String content = jsonResponse ? input : text;
                        if (content != null && !content.isEmpty()) {
                            firstContentArrived();
                            channel.publish(new GenerationEvent.Delta(0, content, new int[0], List.of()));
                        }
                    })
                    .onMessageStop(e -> finishReason = BedrockGenerator.finishReason(e.stopReason(), maxCalls > 0))
                    .onMetadata(e -> usage = usage(e.usage()))
                    .build();
        }

        private void firstContentArrived() {
            if (firstContent) {
                firstContent = false;
                learnFirstToken((System.nanoTime() - calledNanos) / 1e9);
            }
        }

        @Override
        public void onComplete() {
            channel.publish(new GenerationEvent.Finished(0, finishReason, Optional.empty(), false));
            channel.publish(new GenerationEvent.Completed(usage));
        }

        @Override
        public void onError(BedrockGateway.BedrockException e) {
            if (!startedOrFailed.isDone()) {
                failedBeforeStart = e;
                startedOrFailed.complete(null);
                return;
            }
            failures.inc();
            channel.publish(new GenerationEvent.Failed(OpenAiException.internal("Amazon Bedrock failed mid-stream: " + e.getMessage())));
        }
    }
}
