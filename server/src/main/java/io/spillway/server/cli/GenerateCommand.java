package io.spillway.server.cli;

import io.spillway.models.LoadedModel;
import io.spillway.models.generate.GreedyGenerator;
import io.spillway.models.tokenizer.TextTokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code spillway generate}: greedy decoding of one prompt, printed to stdout. With
 * {@code --output ids} stdout holds only the generated ids, comma-separated, on one line.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate from a prompt (greedy) and print the result.")
public final class GenerateCommand implements Callable<Integer> {

    enum Output { text, ids }

    static final class Prompt {
        @Option(names = "--prompt", description = "Prompt text (needs the model's tokenizer.json).")
        String text;

        @Option(names = "--prompt-ids", split = ",", description = "Prompt as comma-separated token ids, e.g. 1,400,300.")
        int[] ids;
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, description = "A Hugging Face model directory, or a Hub id (org/name[@revision]).")
    String model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Prompt prompt;

    @Option(names = "--max-tokens", defaultValue = "64", description = "Tokens to generate at most. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--output", defaultValue = "text", description = "text or ids. Default: ${DEFAULT-VALUE}.")
    Output output;

    @Option(names = "--ignore-eos", description = "Keep generating past end-of-sequence tokens.")
    boolean ignoreEos;

    @Mixin
    ModelOptions modelOptions;

    @Override
    public Integer call() {
        if (maxTokens < 1) {
            throw new CliError("--max-tokens must be at least 1, was " + maxTokens);
        }
        try (LoadedModel loaded = LoadedModel.load(modelOptions.toLoadOptions(
                io.spillway.server.SpillwayServer.locate(model, io.spillway.server.config.ConfigLoader.defaults().environment(System.getenv()).build().hub())))) {
            TextTokenizer tokenizer = loaded.tokenizer().orElse(null);
            if (tokenizer == null && (prompt.text != null || output == Output.text)) {
                throw new CliError(loaded.name()
                        + " has no tokenizer.json: give the prompt with --prompt-ids and use --output ids");
            }
            int[] promptIds = prompt.ids != null ? prompt.ids : tokenizer.encode(prompt.text, true);
            int vocab = loaded.config().vocabSize();
            for (int id : promptIds) {
                if (id < 0 || id >= vocab) {
                    throw new CliError("prompt id " + id + " is outside the vocabulary [0, " + vocab + ")");
                }
            }
            if (promptIds.length == 0) {
                throw new CliError("the prompt encodes to no tokens");
            }
            int total = promptIds.length + maxTokens;
            if (total > loaded.model().maxModelLength()) {
                throw new CliError("prompt (" + promptIds.length + " tokens) plus --max-tokens ("
                        + maxTokens + ") exceeds the model's maximum length " + loaded.model().maxModelLength());
            }
            Set<Integer> stop = ignoreEos ? Set.of() : loaded.eosTokenIds();
            int[] generated;
            try (GreedyGenerator generator = new GreedyGenerator(loaded.model(), 1, total)) {
                generated = generator.generate(List.of(promptIds), maxTokens, stop).get(0);
            }
            PrintWriter out = spec.commandLine().getOut();
            if (output == Output.ids) {
                out.println(Arrays.stream(generated).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            } else {
                out.println(tokenizer.decode(generated, true));
            }
            out.flush();
            return 0;
        }
    }
}
