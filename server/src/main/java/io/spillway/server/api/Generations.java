package io.spillway.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.sampling.Sample;
import io.spillway.models.sampling.TokenLogprob;
import io.spillway.models.template.ChatTemplate;
import io.spillway.models.tokenizer.TextTokenizer;
import io.spillway.server.engine.EngineOverloadedException;
import io.spillway.server.engine.EngineRequest;
import io.spillway.server.engine.FinishReason;
import io.spillway.server.engine.PromptTooLongException;
import io.spillway.server.engine.RequestDelta;
import io.spillway.server.engine.RequestStream;
import io.spillway.server.http.Exchange;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * {@code /v1/chat/completions} and {@code /v1/completions}: build the prompt, submit it to the
 * engine, and answer in OpenAI's shapes, as one JSON body or as Server-Sent Events.
 */
public final class Generations {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final Clock clock;
    private final String fingerprint;

    public Generations(Clock clock, String fingerprint) {
        this.clock = clock;
        this.fingerprint = fingerprint;
    }

    /** One prompt of a request and the choice indices its samples take. */
    private record Job(int[] prompt, String promptText, int firstChoice, GenerationOptions options) {
    }

    public void chat(Exchange ex, ServedModel model, Params p, String cacheSalt) {
        chat(ex, model, p, cacheSalt, null, null, 0);
    }

    /**
     * A chat completion; {@code augmenter}, when given, rewrites the conversation first (retrieval
     * puts passages into it) within the token budget left after the completion's reserve.
     *
     * @param extras top-level fields added to the response body and to the first streamed chunk
     *     (the route taken, say), or null
     * @param maxQueueWaitSeconds refuse with 503 code "queue_wait" when the engine expects a
     *     longer wait for the first token (the router then sends the request elsewhere); 0: no limit
     */
    public void chat(Exchange ex, ServedModel model, Params p, String cacheSalt, ChatAugmenter augmenter, ObjectNode extras,
                     double maxQueueWaitSeconds) {
        TextTokenizer tokenizer = model.requireTokenizer("chat");
        boolean special = p.bool("add_special_tokens", false);
        List<Object> messages = ChatMessages.normalize(p.get("messages"));
        ObjectNode fields = extras == null ? F.objectNode() : extras.deepCopy();
        if (augmenter != null) {
            Long maxTokens = GenerationOptions.requestedMaxTokens(p, GenerationOptions.Kind.CHAT);
            int reserve = maxTokens != null ? (int) Math.min(maxTokens, model.maxModelLength() / 2)
                    : Math.min(256, model.maxModelLength() / 4);
            ChatAugmenter.Augmented a = augmenter.augment(messages,
                    m -> tokenizer.encode(chatPrompt(model, p, m), special).length, model.maxModelLength() - reserve);
            messages = a.messages();
            fields.set("sources", a.sources());
        }
        String text = chatPrompt(model, p, messages);
        int[] ids = tokenizer.encode(text, special);
        if (ids.length == 0) {
            throw OpenAiException.invalid("The rendered conversation encodes to no tokens.", "messages");
        }
        GenerationOptions options = GenerationOptions.parse(p, GenerationOptions.Kind.CHAT, ids.length, model);
        run(ex, model, GenerationOptions.Kind.CHAT, List.of(new Job(ids, text, 0, options)), options, cacheSalt,
                fields.isEmpty() ? null : fields, maxQueueWaitSeconds);
    }

    /** The conversation rendered with the model's chat template (shared with /tokenize). */
    static String chatPrompt(ServedModel model, Params p) {
        return chatPrompt(model, p, ChatMessages.normalize(p.get("messages")));
    }

    private static String chatPrompt(ServedModel model, Params p, List<Object> messages) {
        Map<String, Object> vars = new LinkedHashMap<>();
        JsonNode tools = p.array("tools");
        JsonNode documents = p.array("documents");
        if (p.has("chat_template_kwargs")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = p.object("chat_template_kwargs").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                vars.put(e.getKey(), ChatTemplate.fromJson(e.getValue()));
            }
        }
        vars.put("messages", messages);
        vars.put("add_generation_prompt", p.bool("add_generation_prompt", true));
        if (tools != null) {
            vars.put("tools", ChatTemplate.fromJson(tools));
        }
        if (documents != null) {
            vars.put("documents", ChatTemplate.fromJson(documents));
        }
        return model.renderChat(vars, p.string("chat_template", null), tools != null && !tools.isEmpty());
    }

    public void completions(Exchange ex, ServedModel model, Params p, String cacheSalt) {
        JsonNode prompt = p.get("prompt");
        if (prompt == null) {
            throw OpenAiException.invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        }
        List<int[]> prompts = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        if (prompt.isTextual()) {
            prompts.add(encode(model, prompt.asText()));
            texts.add(prompt.asText());
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            prompts.add(ids(prompt, "prompt", model.vocabSize()));
            texts.add(null);
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            for (int i = 0; i < prompt.size(); i++) {
                JsonNode item = prompt.get(i);
                if (item.isTextual()) {
                    prompts.add(encode(model, item.asText()));
                    texts.add(item.asText());
                } else if (item.isArray()) {
                    prompts.add(ids(item, "prompt[" + i + "]", model.vocabSize()));
                    texts.add(null);
                } else {
                    throw Params.wrongType("prompt[" + i + "]", "a string or an array of token ids", item);
                }
            }
        } else {
            throw OpenAiException.invalid("Invalid 'prompt': expected a string, an array of strings, an array of token ids,"
                    + " or an array of token id arrays (and not empty).", "prompt");
        }
        if (prompts.size() > 256) {
            throw OpenAiException.invalid("Invalid 'prompt': at most 256 prompts per request.", "prompt");
        }
        List<Job> jobs = new ArrayList<>();
        GenerationOptions first = null;
        int n = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (prompts.get(i).length == 0) {
                throw OpenAiException.invalid("Invalid 'prompt': a prompt encodes to no tokens.", "prompt");
            }
            GenerationOptions options = GenerationOptions.parse(p, GenerationOptions.Kind.COMPLETION, prompts.get(i).length, model);
            first = first == null ? options : first;
            n = options.sampling().n();
            jobs.add(new Job(prompts.get(i), texts.get(i), i * n, options));
        }
        run(ex, model, GenerationOptions.Kind.COMPLETION, jobs, first, cacheSalt, null, 0);
    }

    private static int[] encode(ServedModel model, String text) {
        return model.requireTokenizer("a text prompt").encode(text, true);
    }

    private static int[] ids(JsonNode array, String name, int vocab) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode n = array.get(i);
            if (!n.isIntegralNumber() || n.asLong() < 0 || n.asLong() >= vocab) {
                throw OpenAiException.invalid("Invalid '" + name + "': token ids must be integers in [0, " + vocab + "), found "
                        + n + " at position " + i + ".", "prompt");
            }
            out[i] = n.asInt();
        }
        return out;
    }

    private void run(Exchange ex, ServedModel model, GenerationOptions.Kind kind, List<Job> jobs, GenerationOptions options, String salt,
                     ObjectNode extras, double maxQueueWaitSeconds) {
        String id = (kind == GenerationOptions.Kind.CHAT ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long created = clock.instant().getEpochSecond();
        List<RequestStream> streams = new ArrayList<>();
        try {
            for (int i = 0; i < jobs.size(); i++) {
                Job job = jobs.get(i);
                streams.add(model.engine().submit(new EngineRequest(id + "-" + i, job.prompt(), job.options().sampling(), salt,
                        maxQueueWaitSeconds)));
            }
        } catch (EngineOverloadedException e) {
            streams.forEach(RequestStream::cancel);
            if (e.queueWaitExceeded()) {
                throw new OpenAiException(503, "server_error", "The local queue is too long for this request: " + e.getMessage() + ".",
                        null, "queue_wait", e.retryAfterSeconds());
            }
            throw OpenAiException.overloaded("The server is overloaded: " + e.getMessage() + ". Retry shortly.", e.retryAfterSeconds());
        } catch (PromptTooLongException e) {
            streams.forEach(RequestStream::cancel);
            throw GenerationOptions.contextExceeded(e.maxModelLength(), e.promptTokens(), 0, kind);
        } catch (IllegalArgumentException e) {
            streams.forEach(RequestStream::cancel);
            throw OpenAiException.invalid(e.getMessage(), kind == GenerationOptions.Kind.CHAT ? "messages" : "prompt");
        }
        ex.onClose(() -> streams.forEach(RequestStream::cancel));
        if (maxQueueWaitSeconds > 0) {
            awaitStart(streams);
        }
        Response response = new Response(ex, model, kind, jobs, options, id, created, extras);
        if (options.stream()) {
            response.stream(streams);
        } else {
            response.collect(streams);
        }
    }

    /**
     * Holds the response until every stream has started: a request the engine withdraws from its
     * queue (its wait limit passed) has sent nothing yet, so it becomes a 503 "queue_deadline" that
     * the router turns into a spill, instead of a stream that never starts.
     */
    private static void awaitStart(List<RequestStream> streams) {
        for (RequestStream s : streams) {
            RequestDelta first = s.firstDelta().join();
            if (first.finishReason() == FinishReason.WITHDRAWN) {
                streams.forEach(RequestStream::cancel);
                throw new OpenAiException(503, "server_error", "The local queue did not start this request within its wait limit.",
                        null, "queue_deadline", 1);
            }
        }
    }

    /** Formatting of one request's output; confined to the exchange's event loop once it starts. */
    private final class Response {
        private final Exchange ex;
        private final ServedModel model;
        private final GenerationOptions.Kind kind;
        private final List<Job> jobs;
        private final GenerationOptions options;
        private final String id;
        private final long created;
        private final boolean chat;
        /** Extra top-level fields (RAG sources, the route), or null. */
        private final ObjectNode extras;

        Response(Exchange ex, ServedModel model, GenerationOptions.Kind kind, List<Job> jobs, GenerationOptions options, String id, long created,
                 ObjectNode extras) {
            this.extras = extras;
            this.ex = ex;
            this.model = model;
            this.kind = kind;
            this.jobs = jobs;
            this.options = options;
            this.id = id;
            this.created = created;
            this.chat = kind == GenerationOptions.Kind.CHAT;
        }

        private ObjectNode envelope(boolean chunk) {
            ObjectNode o = F.objectNode();
            o.put("id", id);
            o.put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
            o.put("created", created);
            o.put("model", model.name());
            o.put("system_fingerprint", fingerprint);
            return o;
        }

        // ---- one JSON body ----

        void collect(List<RequestStream> streams) {
            List<CompletableFuture<RequestStream.CompletedRequest>> all = new ArrayList<>();
            streams.forEach(s -> all.add(s.collect()));
            CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).whenCompleteAsync((ignored, failure) -> {
                if (!ex.open()) {
                    return;
                }
                List<RequestStream.CompletedRequest> done = all.stream().map(CompletableFuture::join).toList();
                for (RequestStream.CompletedRequest r : done) {
                    if (r.error() != null) {
                        ex.error(OpenAiException.internal("Generation failed: " + r.error()));
                        return;
                    }
                }
                ex.json(200, body(done));
            }, ex.eventLoop());
        }

        private ObjectNode body(List<RequestStream.CompletedRequest> done) {
            ObjectNode root = envelope(false);
            ArrayNode choices = root.putArray("choices");
            int prompt = 0;
            int completion = 0;
            int cached = 0;
            for (int j = 0; j < done.size(); j++) {
                RequestStream.CompletedRequest r = done.get(j);
                Job job = jobs.get(j);
                for (RequestStream.CompletedRequest.Choice c : r.choices()) {
                    ObjectNode choice = choices.addObject();
                    choice.put("index", job.firstChoice() + c.index());
                    String text = c.text();
                    if (chat) {
                        ObjectNode message = choice.putObject("message");
                        message.put("role", "assistant");
                        message.put("content", text);
                        message.putNull("refusal");
                        choice.set("logprobs", options.logprobs() ? chatLogprobs(c.logprobs()) : F.nullNode());
                    } else {
                        String prefix = options.echo() ? promptText(job) : "";
                        choice.put("text", prefix + text);
                        choice.set("logprobs", options.logprobs() ? completionLogprobs(c.logprobs(), prefix.length()) : F.nullNode());
                    }
                    choice.put("finish_reason", finishReason(c.finishReason()));
                    putStopReason(choice, c.stopReason());
                    if (options.returnTokenIds() || model.tokenizer().isEmpty()) {
                        ArrayNode ids = choice.putArray("token_ids");
                        for (int t : c.tokenIds()) {
                            ids.add(t);
                        }
                    }
                }
                prompt += r.usage().promptTokens();
                completion += r.usage().completionTokens();
                cached += r.usage().cachedPromptTokens();
            }
            root.set("usage", usage(prompt, completion, cached));
            ex.reportUsage(prompt, completion);
            if (extras != null) {
                root.setAll(extras);
            }
            return root;
        }

        // ---- Server-Sent Events ----

        private Exchange.SseStream sse;
        private int finishedRequests;
        private int promptTokens;
        private int completionTokens;
        private int cachedTokens;
        private boolean failed;
        private final Map<Integer, Boolean> echoed = new HashMap<>();

        void stream(List<RequestStream> streams) {
            ex.eventLoop().execute(() -> {
                sse = ex.openSse(Map.of());
                if (chat) {
                    int total = 0;
                    for (Job job : jobs) {
                        total += job.options().sampling().n();
                    }
                    for (int i = 0; i < total; i++) {
                        ObjectNode delta = F.objectNode();
                        delta.put("role", "assistant");
                        delta.put("content", "");
                        ObjectNode first = chunk(i, delta, null, null, null, null);
                        if (extras != null && i == 0) {
                            first.setAll(extras);
                        }
                        sse.send(first.toString());
                    }
                }
                for (int j = 0; j < streams.size(); j++) {
                    Job job = jobs.get(j);
                    streams.get(j).subscribe(ex.eventLoop(), d -> onDelta(job, d));
                }
            });
        }

        private void onDelta(Job job, RequestDelta d) {
            if (failed) {
                return;
            }
            if (d.error() != null && d.finishReason() == FinishReason.ERROR) {
                failed = true;
                sse.send(OpenAiException.internal("Generation failed: " + d.error()).toJson().toString());
                sse.send("[DONE]");
                sse.end();
                return;
            }
            int index = job.firstChoice() + d.index();
            String text = d.text();
            if (!chat && options.echo() && echoed.putIfAbsent(index, true) == null) {
                text = promptText(job) + text;
            }
            boolean hasContent = !text.isEmpty() || (!d.logprobs().isEmpty()) || (options.returnTokenIds() && d.tokenIds().length > 0)
                    || (model.tokenizer().isEmpty() && d.tokenIds().length > 0);
            if (hasContent) {
                JsonNode logprobs = options.logprobs() ? (chat ? chatLogprobs(d.logprobs()) : completionLogprobs(d.logprobs(), 0)) : null;
                sse.send(chunk(index, chat ? contentDelta(text) : null, text, null, logprobs, d.tokenIds()).toString());
            }
            // A client that went away gets nothing; one still reading when the server ends its
            // request (shutting down) gets the choice closed properly.
            if (d.finishReason() != null && (d.finishReason() != FinishReason.ABORT || ex.open())) {
                ObjectNode finish = chunk(index, chat ? F.objectNode() : null, "", finishReason(d.finishReason()), null, null);
                putStopReason((ObjectNode) finish.get("choices").get(0), d.stopReason());
                sse.send(finish.toString());
            }
            if (d.usage() != null) {
                promptTokens += d.usage().promptTokens();
                completionTokens += d.usage().completionTokens();
                cachedTokens += d.usage().cachedPromptTokens();
                if (++finishedRequests == jobs.size()) {
                    ex.reportUsage(promptTokens, completionTokens);
                    if (options.includeUsage()) {
                        ObjectNode last = envelope(true);
                        last.putArray("choices");
                        last.set("usage", usage(promptTokens, completionTokens, cachedTokens));
                        sse.send(last.toString());
                    }
                    sse.send("[DONE]");
                    sse.end();
                }
            }
        }

        private ObjectNode contentDelta(String text) {
            ObjectNode delta = F.objectNode();
            delta.put("content", text);
            return delta;
        }

        private ObjectNode chunk(int index, ObjectNode delta, String text, String finishReason, JsonNode logprobs, int[] tokenIds) {
            ObjectNode root = envelope(true);
            ObjectNode choice = root.putArray("choices").addObject();
            choice.put("index", index);
            if (chat) {
                choice.set("delta", delta);
                if (logprobs != null) {
                    choice.set("logprobs", logprobs);
                }
            } else {
                choice.put("text", text);
                choice.set("logprobs", logprobs == null ? F.nullNode() : logprobs);
            }
            if (finishReason == null) {
                choice.putNull("finish_reason");
            } else {
                choice.put("finish_reason", finishReason);
            }
            if (tokenIds != null && (options.returnTokenIds() || model.tokenizer().isEmpty())) {
                ArrayNode ids = choice.putArray("token_ids");
                for (int t : tokenIds) {
                    ids.add(t);
                }
            }
            if (options.includeUsage()) {
                root.putNull("usage");
            }
            return root;
        }

        // ---- shared pieces ----

        private String promptText(Job job) {
            if (job.promptText() != null) {
                return job.promptText();
            }
            return model.tokenizer().map(t -> t.decode(job.prompt(), false)).orElse("");
        }

        private ObjectNode usage(int prompt, int completion, int cached) {
            ObjectNode u = F.objectNode();
            u.put("prompt_tokens", prompt);
            u.put("completion_tokens", completion);
            u.put("total_tokens", prompt + completion);
            u.putObject("prompt_tokens_details").put("cached_tokens", cached);
            return u;
        }

        private ObjectNode chatLogprobs(List<Sample> samples) {
            ObjectNode lp = F.objectNode();
            ArrayNode content = lp.putArray("content");
            for (Sample s : samples) {
                ObjectNode entry = tokenEntry(s.token(), s.logprob());
                ArrayNode top = entry.putArray("top_logprobs");
                for (TokenLogprob t : s.top()) {
                    top.add(tokenEntry(t.token(), t.logprob()));
                }
                content.add(entry);
            }
            lp.putNull("refusal");
            return lp;
        }

        private ObjectNode tokenEntry(int token, float logprob) {
            String text = model.tokenText(token);
            ObjectNode e = F.objectNode();
            e.put("token", text);
            e.put("logprob", logprob);
            ArrayNode bytes = e.putArray("bytes");
            for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
                bytes.add(b & 0xFF);
            }
            return e;
        }

        private ObjectNode completionLogprobs(List<Sample> samples, int offset) {
            ObjectNode lp = F.objectNode();
            ArrayNode tokens = lp.putArray("tokens");
            ArrayNode logprobs = lp.putArray("token_logprobs");
            ArrayNode top = lp.putArray("top_logprobs");
            ArrayNode offsets = lp.putArray("text_offset");
            int at = offset;
            for (Sample s : samples) {
                String text = model.tokenText(s.token());
                tokens.add(text);
                logprobs.add(s.logprob());
                ObjectNode alternatives = top.addObject();
                for (TokenLogprob t : s.top()) {
                    alternatives.put(model.tokenText(t.token()), t.logprob());
                }
                offsets.add(at);
                at += text.length();
            }
            return lp;
        }

        private void putStopReason(ObjectNode choice, Object stopReason) {
            if (stopReason == null) {
                choice.putNull("stop_reason");
            } else if (stopReason instanceof Integer i) {
                choice.put("stop_reason", i);
            } else {
                choice.put("stop_reason", stopReason.toString());
            }
        }

        private String finishReason(FinishReason reason) {
            if (reason == null) {
                return "stop";
            }
            return switch (reason) {
                case STOP, ABORT, ERROR, WITHDRAWN -> "stop";
                case LENGTH, TIMEOUT -> "length";
            };
        }
    }
}
