package io.spillway.server.local;

import io.spillway.models.LoadedModel;
import io.spillway.models.arch.WeightSummary;
import io.spillway.models.template.ChatTemplate;
import io.spillway.models.template.TemplateException;
import io.spillway.models.tokenizer.TextTokenizer;
import io.spillway.models.tokenizer.TokenizerConfig;
import io.spillway.server.engine.Engine;
import io.spillway.server.output.ToolCallFormat;
import io.spillway.server.wire.ModelCard;
import io.spillway.server.wire.OpenAiException;
import java.time.Clock;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A model as the API serves it: the engine that runs it and its text interface (tokenizer, chat
 * templates, special tokens). Chat templates are compiled once at start.
 *
 * <p>A model without a chat template gets {@link #FALLBACK_TEMPLATE}: "Role: content" turns
 * separated by blank lines, ending with "Assistant:" when a generation prompt is asked for. It
 * suits base models; instruction-tuned models ship their own template.
 */
public final class ServedModel {

    public static final String FALLBACK_TEMPLATE = "{%- for message in messages %}"
            + "{{- message['role'] | capitalize }}: {{ message['content'] }}\n\n"
            + "{%- endfor %}"
            + "{%- if add_generation_prompt %}Assistant:{% endif %}";

    private final String name;
    private final String ownedBy;
    private final long created;
    private final Engine engine;
    private final TextTokenizer tokenizer;
    private final TokenizerConfig tokenizerConfig;
    private final Map<String, ChatTemplate> templates = new LinkedHashMap<>();
    private final Map<String, ChatTemplate> requestTemplates = new HashMap<>();
    private final Clock clock;
    private final ToolCallFormat toolCallFormat;
    private final boolean thinks;

    /**
     * @param overrideTemplate a template source replacing the model's own (--chat-template), or null
     * @param toolCallFormat   how the model writes tool calls; empty: as its template says (Hermes' way when it does not say)
     */
    public ServedModel(String name, String ownedBy, Engine engine, String overrideTemplate, Optional<ToolCallFormat> toolCallFormat,
                       Clock clock) {
        this.name = name;
        this.ownedBy = ownedBy;
        this.created = clock.instant().getEpochSecond();
        this.engine = engine;
        LoadedModel model = engine.model();
        this.tokenizer = model.tokenizer().orElse(null);
        this.tokenizerConfig = model.tokenizerConfig();
        this.clock = clock;
        if (overrideTemplate != null) {
            templates.put(TokenizerConfig.DEFAULT_TEMPLATE, ChatTemplate.compile(overrideTemplate));
        } else {
            for (Map.Entry<String, String> e : tokenizerConfig.chatTemplates().entrySet()) {
                templates.put(e.getKey(), ChatTemplate.compile(e.getValue()));
            }
        }
        if (!templates.containsKey(TokenizerConfig.DEFAULT_TEMPLATE)) {
            templates.put(TokenizerConfig.DEFAULT_TEMPLATE, ChatTemplate.compile(FALLBACK_TEMPLATE));
        }
        String sources = overrideTemplate != null ? overrideTemplate : String.join("\n", tokenizerConfig.chatTemplates().values());
        this.toolCallFormat = toolCallFormat.or(() -> ToolCallFormat.of(sources)).orElse(ToolCallFormat.HERMES);
        this.thinks = sources.contains("<think>") || sources.contains("</think>");
    }

    /** How this model writes tool calls in its answers. */
    public ToolCallFormat toolCallFormat() {
        return toolCallFormat;
    }

    /** Whether this model thinks in a {@code <think>} block before answering (Qwen3, QwQ, DeepSeek-R1's distills). */
    public boolean thinks() {
        return thinks;
    }

    public String name() {
        return name;
    }

    public String ownedBy() {
        return ownedBy;
    }

    public long created() {
        return created;
    }

    public Engine engine() {
        return engine;
    }

    /** Format, bytes and kernel of the weights, as {@code /v1/models} shows them. */
    public ModelCard.Weights weights() {
        WeightSummary s = engine.model().model().weightSummary();
        return new ModelCard.Weights(s.format(), s.bytes(), s.kernel());
    }

    public int maxModelLength() {
        return engine.maxModelLength();
    }

    public int vocabSize() {
        return engine.model().config().vocabSize();
    }

    public Optional<TextTokenizer> tokenizer() {
        return Optional.ofNullable(tokenizer);
    }

    public TextTokenizer requireTokenizer(String what) {
        if (tokenizer == null) {
            throw OpenAiException.invalid("The model `" + name + "` has no tokenizer, so " + what
                    + " is not available: send the prompt as token ids to /v1/completions.", null, "tokenizer_unavailable");
        }
        return tokenizer;
    }

    /**
     * Renders a conversation with the model's template, as transformers would: the named template
     * when {@code chatTemplate} names one, a template given inline, {@code tool_use} when tools are
     * given and the model has such a template, else the default.
     */
    public String renderChat(Map<String, Object> variables, String chatTemplate, boolean hasTools) {
        ChatTemplate template;
        if (chatTemplate != null && templates.containsKey(chatTemplate)) {
            template = templates.get(chatTemplate);
        } else if (chatTemplate != null) {
            template = compileRequestTemplate(chatTemplate);
        } else if (hasTools && templates.containsKey("tool_use")) {
            template = templates.get("tool_use");
        } else {
            template = templates.get(TokenizerConfig.DEFAULT_TEMPLATE);
        }
        Map<String, Object> vars = new LinkedHashMap<>(tokenizerConfig.specialTokens());
        vars.putAll(variables);
        try {
            return template.render(vars, clock);
        } catch (TemplateException e) {
            throw OpenAiException.invalid(e.raisedByTemplate() ? e.getMessage() : "The chat template failed: " + e.getMessage(),
                    "messages", "chat_template_error");
        } catch (RuntimeException e) {
            throw OpenAiException.invalid("The chat template failed: " + e, "messages", "chat_template_error");
        }
    }

    private ChatTemplate compileRequestTemplate(String source) {
        synchronized (requestTemplates) {
            ChatTemplate cached = requestTemplates.get(source);
            if (cached != null) {
                return cached;
            }
            try {
                ChatTemplate compiled = ChatTemplate.compile(source);
                if (requestTemplates.size() < 64) {
                    requestTemplates.put(source, compiled);
                }
                return compiled;
            } catch (TemplateException e) {
                throw OpenAiException.invalid("Invalid 'chat_template': " + e.getMessage(), "chat_template");
            }
        }
    }

    /** A conversation rendered with this model's chat template (see {@link #renderChat}). */
    public String renderConversation(java.util.List<io.spillway.server.wire.Message> messages,
                                     java.util.List<io.spillway.server.wire.Tool> tools,
                                     io.spillway.server.wire.ChatTemplateOptions template) {
        return ChatPrompts.render(this, messages, tools, template);
    }

    /** The text of one token, for logprobs ("token_id:N" when the model has no tokenizer). */
    public String tokenText(int id) {
        return tokenizer == null ? "token_id:" + id : tokenizer.decode(new int[] {id}, false);
    }
}
