package io.spillway.server.rag;

import io.spillway.server.generation.ForwardingGeneration;
import io.spillway.server.generation.GenerationEvent;
import io.spillway.server.generation.GenerationRequest;
import io.spillway.server.generation.Generator;
import io.spillway.server.generation.PromptMeter;
import io.spillway.server.generation.Start;
import io.spillway.server.wire.ChatRequest;
import io.spillway.server.wire.Source;
import java.util.List;
import java.util.function.Consumer;

/**
 * Retrieval-augmented chat: a request with a {@code rag} object has the passages of its caller's
 * collection put into its conversation, as many as fit the local model's context after the
 * completion's reserve, and its answer reports them as sources. Such requests stay on this box
 * (the spill policy keeps them local): the passages are private data.
 */
public final class RetrievalStage implements Generator {

    private final Generator inner;
    private final Collections collections;
    private final PromptMeter meter;

    public RetrievalStage(Generator inner, Collections collections, PromptMeter meter) {
        this.inner = inner;
        this.collections = collections;
        this.meter = meter;
    }

    @Override
    public Start start(GenerationRequest request) {
        if (!(request.body() instanceof ChatRequest chat) || chat.retrieval().isEmpty()) {
            return inner.start(request);
        }
        ChatRetrieval retrieval = ChatRetrieval.open(collections, new Owner(request.caller().owner()), chat.retrieval().get());
        int context = meter.maxModelLength();
        int reserve = chat.options().maxTokens().map(m -> Math.min(m, context / 2)).orElse(Math.min(256, context / 4));
        ChatRetrieval.Augmented augmented = retrieval.augment(chat.messages(), m -> meter.promptTokens(chat.withMessages(m)),
                context - reserve);
        Start start = inner.start(request.withBody(chat.withMessages(augmented.messages())));
        if (!(start instanceof Start.Accepted accepted)) {
            return start;
        }
        List<Source> sources = augmented.sources();
        return new Start.Accepted(new ForwardingGeneration(accepted.generation()) {
            @Override
            protected void onEvent(GenerationEvent event, Consumer<GenerationEvent> downstream) {
                downstream.accept(event instanceof GenerationEvent.Started s ? s.withSources(sources) : event);
            }
        });
    }
}
