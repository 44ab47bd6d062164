package io.spillway.server.api;

import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.server.wire.EmbeddingRequest;
import io.spillway.server.wire.OpenAiEncoder;
import io.spillway.server.wire.OpenAiException;
import io.spillway.server.wire.TokenIds;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code POST /v1/embeddings}: text or token ids of the embedding model, one vector per input.
 * Inputs longer than the model's maximum are truncated, as sentence-transformers does.
 */
final class EmbeddingsEndpoint {

    private static final long TIMEOUT_SECONDS = 120;

    private final EmbeddingService service;
    private final OpenAiEncoder encoder;

    EmbeddingsEndpoint(EmbeddingService service, OpenAiEncoder encoder) {
        this.service = service;
        this.encoder = encoder;
    }

    String modelName() {
        return service.name();
    }

    int maxLength() {
        return service.model().maxLength();
    }

    byte[] embed(EmbeddingRequest request) {
        if (request.dimensions().isPresent() && request.dimensions().get() != service.dimension()) {
            throw OpenAiException.invalid("Model '" + service.name() + "' produces " + service.dimension()
                    + "-dimensional embeddings and cannot shorten them; omit 'dimensions' or set it to " + service.dimension() + ".",
                    "dimensions");
        }
        List<long[]> inputs = new ArrayList<>();
        try {
            for (EmbeddingRequest.Input input : request.inputs()) {
                inputs.add(switch (input) {
                    case EmbeddingRequest.TextInput t -> service.model().tokenize(t.text());
                    case EmbeddingRequest.TokenInput t -> tokenIds(t);
                });
            }
        } catch (EmbeddingService.OverloadedException e) {
            throw OpenAiException.overloaded(e.getMessage(), 1);
        }
        int promptTokens = 0;
        for (long[] ids : inputs) {
            promptTokens += ids.length;
        }
        List<float[]> vectors = await(service.embedIds(inputs));
        return encoder.embeddings(service.name(), vectors, request.base64(), promptTokens);
    }

    private long[] tokenIds(EmbeddingRequest.TokenInput input) {
        int[] ids = input.ids();
        TokenIds.requireInVocabulary(ids, service.model().vocabSize(), input.name(), "input");
        return Arrays.stream(ids, 0, Math.min(ids.length, service.model().maxLength())).asLongStream().toArray();
    }

    /** Blocks the calling (virtual) thread for the result, turning failures into API errors. */
    private static <T> T await(CompletableFuture<T> future) {
        try {
            return future.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            future.cancel(false);
            throw OpenAiException.overloaded("The embedding model did not answer within " + TIMEOUT_SECONDS + " s.", 5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw OpenAiException.internal("interrupted while embedding");
        } catch (ExecutionException | CompletionException e) {
            throw OpenAiException.internal("Embedding failed: " + e.getCause().getMessage());
        }
    }
}
