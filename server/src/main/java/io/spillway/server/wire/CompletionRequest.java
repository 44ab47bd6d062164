package io.spillway.server.wire;

import java.util.List;

/**
 * {@code POST /v1/completions}, validated: one or more prompts, each sampled {@code n} times.
 *
 * @param echo each choice's text starts with its prompt
 */
public record CompletionRequest(String model, List<Prompt> prompts, GenerationOptions options, boolean echo, Delivery delivery)
        implements GenerationBody {

    public CompletionRequest {
        prompts = List.copyOf(prompts);
    }

    public CompletionRequest withPrompts(List<Prompt> replaced) {
        return new CompletionRequest(model, replaced, options, echo, delivery);
    }

    @Override
    public String endpoint() {
        return "completions";
    }

    /** The prompts, one per line; token prompts as their ids. */
    @Override
    public String promptText() {
        StringBuilder b = new StringBuilder();
        for (Prompt p : prompts) {
            if (!b.isEmpty()) {
                b.append('\n');
            }
            b.append(switch (p) {
                case Prompt.Text t -> t.text();
                case Prompt.Tokens t -> java.util.Arrays.toString(t.ids());
            });
        }
        return b.toString();
    }
}
