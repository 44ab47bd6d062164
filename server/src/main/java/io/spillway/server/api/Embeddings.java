package io.spillway.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.server.embeddings.EmbeddingService;
import io.spillway.server.http.Exchange;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code POST /v1/embeddings} in OpenAI's shape: input as a string, strings, token ids or arrays
 * of token ids; {@code encoding_format} float or base64 (little-endian float32, as OpenAI's SDKs
 * decode it). Inputs longer than the model's maximum are truncated, as sentence-transformers does.
 */
public final class Embeddings {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** OpenAI's own limit on inputs per request. */
    public static final int MAX_INPUTS = 2048;
    private static final long TIMEOUT_SECONDS = 120;

    private final EmbeddingService service;

    public Embeddings(EmbeddingService service) {
        this.service = service;
    }

    public String modelName() {
        return service.name();
    }

    public EmbeddingService service() {
        return service;
    }

    public void handle(Exchange ex, Params p) {
        String format = p.string("encoding_format", "float");
        if (!format.equals("float") && !format.equals("base64")) {
            throw OpenAiException.invalid("Invalid 'encoding_format': expected 'float' or 'base64', got '" + format + "'.",
                    "encoding_format");
        }
        Long dimensions = p.integer("dimensions", 1, Integer.MAX_VALUE);
        if (dimensions != null && dimensions != service.dimension()) {
            throw OpenAiException.invalid("Model '" + service.name() + "' produces " + service.dimension()
                    + "-dimensional embeddings and cannot shorten them; omit 'dimensions' or set it to " + service.dimension() + ".",
                    "dimensions");
        }
        List<long[]> inputs = inputs(p.get("input"));
        int promptTokens = 0;
        for (long[] ids : inputs) {
            promptTokens += ids.length;
        }
        List<float[]> vectors = await(service.embedIds(inputs));
        ObjectNode out = F.objectNode();
        out.put("object", "list");
        ArrayNode data = out.putArray("data");
        for (int i = 0; i < vectors.size(); i++) {
            ObjectNode item = data.addObject();
            item.put("object", "embedding");
            item.put("index", i);
            if (format.equals("base64")) {
                item.put("embedding", base64(vectors.get(i)));
            } else {
                ArrayNode values = item.putArray("embedding");
                for (float x : vectors.get(i)) {
                    values.add(x);
                }
            }
        }
        out.put("model", service.name());
        out.putObject("usage").put("prompt_tokens", promptTokens).put("total_tokens", promptTokens);
        ex.json(200, out);
    }

    /** Blocks the calling (virtual) thread for the result, turning failures into API errors. */
    public static <T> T await(java.util.concurrent.CompletableFuture<T> future) {
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

    private List<long[]> inputs(JsonNode input) {
        if (input == null || input.isNull()) {
            throw OpenAiException.invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
        }
        List<long[]> out = new ArrayList<>();
        try {
            if (input.isTextual()) {
                out.add(text(input, "input"));
            } else if (input.isArray() && !input.isEmpty() && input.size() <= MAX_INPUTS * 16 && input.get(0).isNumber()) {
                out.add(tokenIds(input, "input"));
            } else if (input.isArray() && !input.isEmpty()) {
                if (input.size() > MAX_INPUTS) {
                    throw OpenAiException.invalid("Invalid 'input': at most " + MAX_INPUTS + " inputs per request, got " + input.size() + ".",
                            "input");
                }
                for (int i = 0; i < input.size(); i++) {
                    JsonNode item = input.get(i);
                    if (item.isTextual()) {
                        out.add(text(item, "input[" + i + "]"));
                    } else if (item.isArray()) {
                        out.add(tokenIds(item, "input[" + i + "]"));
                    } else {
                        throw Params.wrongType("input[" + i + "]", "a string or an array of token ids", item);
                    }
                }
            } else {
                throw OpenAiException.invalid("Invalid 'input': expected a non-empty string, array of strings, array of token ids,"
                        + " or array of token id arrays.", "input");
            }
            return out;
        } catch (EmbeddingService.OverloadedException e) {
            throw OpenAiException.overloaded(e.getMessage(), 1);
        }
    }

    private long[] text(JsonNode node, String name) {
        if (node.asText().isEmpty()) {
            throw OpenAiException.invalid("Invalid '" + name + "': an input must not be an empty string.", "input");
        }
        return service.model().tokenize(node.asText());
    }

    private long[] tokenIds(JsonNode array, String name) {
        if (array.isEmpty()) {
            throw OpenAiException.invalid("Invalid '" + name + "': an array of token ids must not be empty.", "input");
        }
        int vocab = service.model().vocabSize();
        int n = Math.min(array.size(), service.model().maxLength());
        long[] ids = new long[n];
        for (int i = 0; i < array.size(); i++) {
            JsonNode t = array.get(i);
            if (!t.isIntegralNumber() || t.asLong() < 0 || t.asLong() >= vocab) {
                throw OpenAiException.invalid("Invalid '" + name + "': token ids of " + service.name() + " are integers in [0, " + vocab
                        + "), found " + t + " at position " + i + ".", "input");
            }
            if (i < n) {
                ids[i] = t.asLong();
            }
        }
        return ids;
    }

    private static String base64(float[] v) {
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            buf.putFloat(x);
        }
        return Base64.getEncoder().encodeToString(buf.array());
    }
}
