package io.spillway.server.wire;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Writes every OpenAI-shaped response: completion bodies and stream chunks (chat and legacy
 * completions alike, from every route and from the caches), usage, {@code [DONE]}, errors, model
 * lists, embeddings and vLLM's tokenizer endpoints. Each object is written once, straight to bytes.
 * Thread-safe; a {@link Chunks} belongs to one stream.
 */
public final class OpenAiEncoder {

    private static final JsonFactory JSON = new JsonFactory();
    private static final byte[] EVENT_START = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);

    @FunctionalInterface
    private interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    private static byte[] json(Body body) {
        ByteArrayBuilder out = new ByteArrayBuilder(512);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            body.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException("writing JSON to memory", e);
        }
        return out.toByteArray();
    }

    /** One Server-Sent Event carrying {@code body}. */
    private static byte[] event(Body body) {
        ByteArrayBuilder out = new ByteArrayBuilder(512);
        out.write(EVENT_START);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            body.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException("writing JSON to memory", e);
        }
        out.write(EVENT_END);
        return out.toByteArray();
    }

    // ---- errors ----

    public byte[] error(OpenAiException e) {
        return json(g -> writeError(g, e));
    }

    /** An error inside a stream that already started, followed by nothing but {@link Chunks#done()}. */
    private static void writeError(JsonGenerator g, OpenAiException e) throws IOException {
        g.writeStartObject();
        g.writeObjectFieldStart("error");
        g.writeStringField("message", e.getMessage());
        g.writeStringField("type", e.type());
        g.writeStringField("param", e.param());
        g.writeStringField("code", e.code());
        g.writeEndObject();
        g.writeEndObject();
    }

    // ---- small bodies ----

    /** {@code {"status": ...}} for health and readiness probes. */
    public byte[] status(String status) {
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("status", status);
            g.writeEndObject();
        });
    }

    /** A probe's answer with why it is not the good one. */
    public byte[] status(String status, String reason) {
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("status", status);
            g.writeStringField("reason", reason);
            g.writeEndObject();
        });
    }

    public byte[] version(String version, String model) {
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("version", version);
            g.writeStringField("model", model);
            g.writeEndObject();
        });
    }

    public byte[] models(List<ModelCard> models) {
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("object", "list");
            g.writeArrayFieldStart("data");
            for (ModelCard m : models) {
                writeModel(g, m);
            }
            g.writeEndArray();
            g.writeEndObject();
        });
    }

    public byte[] model(ModelCard model) {
        return json(g -> writeModel(g, model));
    }

    private static void writeModel(JsonGenerator g, ModelCard m) throws IOException {
        g.writeStartObject();
        g.writeStringField("id", m.id());
        g.writeStringField("object", "model");
        g.writeNumberField("created", m.created());
        g.writeStringField("owned_by", m.ownedBy());
        if (m.maxModelLength().isPresent()) {
            g.writeNumberField("max_model_len", m.maxModelLength().getAsInt());
        }
        if (m.weights().isPresent()) {
            g.writeStringField("weight_format", m.weights().get().format());
            g.writeNumberField("weight_bytes", m.weights().get().bytes());
            g.writeStringField("kernel", m.weights().get().kernel());
        }
        g.writeEndObject();
    }

    public byte[] embeddings(String model, List<float[]> vectors, boolean base64, int promptTokens) {
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("object", "list");
            g.writeArrayFieldStart("data");
            for (int i = 0; i < vectors.size(); i++) {
                g.writeStartObject();
                g.writeStringField("object", "embedding");
                g.writeNumberField("index", i);
                if (base64) {
                    g.writeStringField("embedding", base64(vectors.get(i)));
                } else {
                    g.writeArrayFieldStart("embedding");
                    for (float x : vectors.get(i)) {
                        g.writeNumber(x);
                    }
                    g.writeEndArray();
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeStringField("model", model);
            g.writeObjectFieldStart("usage");
            g.writeNumberField("prompt_tokens", promptTokens);
            g.writeNumberField("total_tokens", promptTokens);
            g.writeEndObject();
            g.writeEndObject();
        });
    }

    private static String base64(float[] v) {
        ByteBuffer buf = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            buf.putFloat(x);
        }
        return Base64.getEncoder().encodeToString(buf.array());
    }

    /** vLLM's {@code /tokenize} answer; {@code tokenTexts} only when asked for. */
    public byte[] tokenized(int[] ids, int maxModelLength, Optional<List<String>> tokenTexts) {
        return json(g -> {
            g.writeStartObject();
            g.writeNumberField("count", ids.length);
            g.writeNumberField("max_model_len", maxModelLength);
            g.writeArrayFieldStart("tokens");
            for (int id : ids) {
                g.writeNumber(id);
            }
            g.writeEndArray();
            if (tokenTexts.isPresent()) {
                g.writeArrayFieldStart("token_strs");
                for (String s : tokenTexts.get()) {
                    g.writeString(s);
                }
                g.writeEndArray();
            } else {
                g.writeNullField("token_strs");
            }
            g.writeEndObject();
        });
    }

    public byte[] detokenized(String text) {
        return json(g -> {
            g.writeStartObject();
            g.writeStringField("prompt", text);
            g.writeEndObject();
        });
    }

    // ---- completions ----

    /** A whole chat or text completion. */
    public byte[] completion(ResponseHead head, List<CompletedChoice> choices, Usage usage) {
        return json(g -> {
            writeHead(g, head, false);
            g.writeArrayFieldStart("choices");
            for (CompletedChoice c : choices) {
                g.writeStartObject();
                g.writeNumberField("index", c.index());
                if (head.chat()) {
                    g.writeObjectFieldStart("message");
                    g.writeStringField("role", "assistant");
                    // A message that only calls tools has no content, as OpenAI's.
                    g.writeStringField("content", c.text().isEmpty() && !c.toolCalls().isEmpty() ? null : c.text());
                    g.writeNullField("refusal");
                    if (c.reasoning().isPresent()) {
                        g.writeStringField("reasoning_content", c.reasoning().get());
                    }
                    if (!c.toolCalls().isEmpty()) {
                        g.writeArrayFieldStart("tool_calls");
                        for (ToolCall call : c.toolCalls()) {
                            g.writeStartObject();
                            g.writeStringField("id", call.id());
                            g.writeStringField("type", "function");
                            g.writeObjectFieldStart("function");
                            g.writeStringField("name", call.name());
                            g.writeStringField("arguments", call.arguments());
                            g.writeEndObject();
                            g.writeEndObject();
                        }
                        g.writeEndArray();
                    }
                    g.writeEndObject();
                } else {
                    g.writeStringField("text", c.text());
                }
                writeLogprobs(g, head, head.showLogprobs() ? c.logprobs() : null);
                g.writeStringField("finish_reason", c.finishReason().wireName());
                writeStopReason(g, c.stopReason());
                if (head.showTokenIds()) {
                    writeTokenIds(g, c.tokenIds());
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeFieldName("usage");
            writeUsage(g, head, usage);
            writeReport(g, head);
            g.writeEndObject();
        });
    }

    /** The chunks of one streamed completion, in the order they are sent. */
    public Chunks chunks(ResponseHead head) {
        return new Chunks(head);
    }

    /** Writes one stream's events; keeps what the stream has sent so far (the first chunk, text offsets). */
    public static final class Chunks {

        private final ResponseHead head;
        private boolean reported;

        private Chunks(ResponseHead head) {
            this.head = head;
        }

        /** Chat only: the opening chunk of a choice (role, empty content). */
        public byte[] role(int index) {
            return chunk(index, g -> {
                g.writeObjectFieldStart("delta");
                g.writeStringField("role", "assistant");
                g.writeStringField("content", "");
                g.writeEndObject();
                writeChunkLogprobs(g, null);
                g.writeNullField("finish_reason");
            });
        }

        /** New text of a choice, with its tokens' ids and log-probabilities. */
        public byte[] delta(int index, String text, int[] tokenIds, List<Logprob> logprobs) {
            return chunk(index, g -> {
                if (head.chat()) {
                    g.writeObjectFieldStart("delta");
                    g.writeStringField("content", text);
                    g.writeEndObject();
                } else {
                    g.writeStringField("text", text);
                }
                writeChunkLogprobs(g, head.showLogprobs() ? logprobs : null);
                g.writeNullField("finish_reason");
                if (head.showTokenIds()) {
                    writeTokenIds(g, tokenIds);
                }
            });
        }

        /** Chat only: new reasoning text of a choice (reasoning_content). */
        public byte[] reasoning(int index, String text) {
            return chunk(index, g -> {
                g.writeObjectFieldStart("delta");
                g.writeStringField("reasoning_content", text);
                g.writeEndObject();
                g.writeNullField("finish_reason");
            });
        }

        /**
         * Chat only: part of a tool call: its first delta carries the id, type and name, later ones
         * fragments of the arguments.
         *
         * @param call the call's position among the choice's calls
         */
        public byte[] toolCall(int index, int call, Optional<String> id, Optional<String> name, String arguments) {
            return chunk(index, g -> {
                g.writeObjectFieldStart("delta");
                g.writeArrayFieldStart("tool_calls");
                g.writeStartObject();
                g.writeNumberField("index", call);
                if (id.isPresent()) {
                    g.writeStringField("id", id.get());
                    g.writeStringField("type", "function");
                }
                g.writeObjectFieldStart("function");
                if (name.isPresent()) {
                    g.writeStringField("name", name.get());
                }
                g.writeStringField("arguments", arguments);
                g.writeEndObject();
                g.writeEndObject();
                g.writeEndArray();
                g.writeEndObject();
                g.writeNullField("finish_reason");
            });
        }

        /** The end of a choice. */
        public byte[] finish(int index, FinishReason reason, Optional<StopReason> stop) {
            return chunk(index, g -> {
                if (head.chat()) {
                    g.writeObjectFieldStart("delta");
                    g.writeEndObject();
                } else {
                    g.writeStringField("text", "");
                }
                writeChunkLogprobs(g, null);
                g.writeStringField("finish_reason", reason.wireName());
                writeStopReason(g, stop);
            });
        }

        /** The usage chunk (sent only when the request asked for it: stream_options.include_usage). */
        public byte[] usage(Usage usage) {
            return event(g -> {
                writeHead(g, head, true);
                g.writeArrayFieldStart("choices");
                g.writeEndArray();
                g.writeFieldName("usage");
                writeUsage(g, head, usage);
                g.writeEndObject();
            });
        }

        /** A failure after the stream started. */
        public byte[] error(OpenAiException e) {
            return event(g -> writeError(g, e));
        }

        public byte[] done() {
            return DONE.clone();
        }

        private byte[] chunk(int index, Body choice) {
            return event(g -> {
                writeHead(g, head, true);
                g.writeArrayFieldStart("choices");
                g.writeStartObject();
                g.writeNumberField("index", index);
                choice.write(g);
                g.writeEndObject();
                g.writeEndArray();
                if (head.includeUsage()) {
                    g.writeNullField("usage");
                }
                if (!reported) {
                    reported = true;
                    writeReport(g, head);
                }
                g.writeEndObject();
            });
        }

        /** Chat chunks carry logprobs only when there are some; completion chunks always (null or not). */
        private void writeChunkLogprobs(JsonGenerator g, List<Logprob> logprobs) throws IOException {
            if (head.chat() && logprobs == null) {
                return;
            }
            writeLogprobs(g, head, logprobs);
        }
    }

    private static void writeHead(JsonGenerator g, ResponseHead head, boolean chunk) throws IOException {
        g.writeStartObject();
        g.writeStringField("id", head.id());
        g.writeStringField("object", head.chat() ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
        g.writeNumberField("created", head.created());
        g.writeStringField("model", head.model());
        if (head.systemFingerprint().isPresent()) {
            g.writeStringField("system_fingerprint", head.systemFingerprint().get());
        }
    }

    /** Where a chat answer ran and what it was given (the route, retrieved sources). */
    private static void writeReport(JsonGenerator g, ResponseHead head) throws IOException {
        if (!head.chat()) {
            return;
        }
        if (head.route().isPresent()) {
            g.writeStringField("route", head.route().get());
        }
        if (head.sources().isPresent()) {
            g.writeArrayFieldStart("sources");
            for (Source s : head.sources().get()) {
                g.writeStartObject();
                g.writeNumberField("index", s.index());
                g.writeStringField("id", s.id());
                if (s.documentId().isPresent()) {
                    g.writeStringField("document_id", s.documentId().get());
                }
                g.writeNumberField("score", s.score());
                g.writeEndObject();
            }
            g.writeEndArray();
        }
    }

    private static void writeUsage(JsonGenerator g, ResponseHead head, Usage u) throws IOException {
        g.writeStartObject();
        g.writeNumberField("prompt_tokens", u.promptTokens());
        g.writeNumberField("completion_tokens", u.completionTokens());
        g.writeNumberField("total_tokens", u.totalTokens());
        g.writeObjectFieldStart("prompt_tokens_details");
        g.writeNumberField("cached_tokens", u.cachedTokens());
        g.writeEndObject();
        if (u.reasoningTokens() > 0) {
            g.writeObjectFieldStart("completion_tokens_details");
            g.writeNumberField("reasoning_tokens", u.reasoningTokens());
            g.writeEndObject();
        }
        if (head.showCost()) {
            g.writeNumberField("cost_usd", u.costUsd());
        }
        g.writeEndObject();
    }

    private static void writeStopReason(JsonGenerator g, Optional<StopReason> stop) throws IOException {
        switch (stop.orElse(null)) {
            case null -> g.writeNullField("stop_reason");
            case StopReason.Text t -> g.writeStringField("stop_reason", t.stop());
            case StopReason.Token t -> g.writeNumberField("stop_reason", t.id());
        }
    }

    private static void writeTokenIds(JsonGenerator g, int[] ids) throws IOException {
        g.writeArrayFieldStart("token_ids");
        for (int id : ids) {
            g.writeNumber(id);
        }
        g.writeEndArray();
    }

    /** Chat's {content: [...], refusal} or completions' parallel arrays; null writes a null. */
    private static void writeLogprobs(JsonGenerator g, ResponseHead head, List<Logprob> logprobs) throws IOException {
        if (logprobs == null) {
            g.writeNullField("logprobs");
            return;
        }
        g.writeObjectFieldStart("logprobs");
        if (head.chat()) {
            g.writeArrayFieldStart("content");
            for (Logprob l : logprobs) {
                g.writeStartObject();
                writeTokenEntry(g, l.token(), l.logprob());
                g.writeArrayFieldStart("top_logprobs");
                for (Logprob.Alternative a : l.top()) {
                    g.writeStartObject();
                    writeTokenEntry(g, a.token(), a.logprob());
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeNullField("refusal");
        } else {
            g.writeArrayFieldStart("tokens");
            for (Logprob l : logprobs) {
                g.writeString(l.token());
            }
            g.writeEndArray();
            g.writeArrayFieldStart("token_logprobs");
            for (Logprob l : logprobs) {
                g.writeNumber(l.logprob());
            }
            g.writeEndArray();
            g.writeArrayFieldStart("top_logprobs");
            for (Logprob l : logprobs) {
                // Alternatives that decode to the same text share one key: the later value wins, as in
                // vLLM's dictionary, at the first one's position.
                Map<String, Float> byText = new LinkedHashMap<>();
                for (Logprob.Alternative a : l.top()) {
                    byText.put(a.token(), a.logprob());
                }
                g.writeStartObject();
                for (Map.Entry<String, Float> e : byText.entrySet()) {
                    g.writeNumberField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeArrayFieldStart("text_offset");
            for (Logprob l : logprobs) {
                g.writeNumber(l.textOffset());
            }
            g.writeEndArray();
        }
        g.writeEndObject();
    }

    private static void writeTokenEntry(JsonGenerator g, String token, float logprob) throws IOException {
        g.writeStringField("token", token);
        g.writeNumberField("logprob", logprob);
        g.writeArrayFieldStart("bytes");
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            g.writeNumber(b & 0xFF);
        }
        g.writeEndArray();
    }
}
