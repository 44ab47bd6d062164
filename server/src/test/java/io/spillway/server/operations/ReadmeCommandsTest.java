package io.spillway.server.operations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's shell commands must work as written on a machine whose default {@code java} is
 * older than the JDK Spillway needs (Maven may run on 17, and 17 is the default where Spillway is
 * developed): nothing may run the bare {@code java} from the PATH, least of all the JMH jar (built
 * for 21, it fails there with UnsupportedClassVersionError). {@code ./spillway} finds the JDK.
 */
class ReadmeCommandsTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    /** An environment assignment before the command word, as in {@code THP_MEM_ALLOC_ENABLE=1 java ...}. */
    private static final Pattern ASSIGNMENT = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*=\\S*");

    /** Every command in the README's shell blocks (bash, sh, text, console or unlabelled), continuation lines joined. */
    static List<String> shellCommands(String readme) {
        List<String> commands = new ArrayList<>();
        boolean inShell = false;
        boolean inBlock = false;
        StringBuilder pending = new StringBuilder();
        for (String line : readme.split("\n")) {
            if (line.startsWith("```")) {
                String language = line.substring(3).strip();
                inShell = !inBlock && (language.isEmpty() || List.of("bash", "sh", "shell", "text", "console").contains(language));
                inBlock = !inBlock;
                continue;
            }
            if (!inShell) {
                continue;
            }
            String stripped = line.strip();
            if (pending.isEmpty() && (stripped.isEmpty() || stripped.startsWith("#"))) {
                continue;
            }
            if (stripped.endsWith("\\")) {
                pending.append(stripped.substring(0, stripped.length() - 1).strip()).append(' ');
            } else {
                commands.add(pending.append(stripped).toString());
                pending.setLength(0);
            }
        }
        return commands;
    }

    /** The program each part of a command line runs (the first word after any VAR=value). */
    static List<String> programs(String command) {
        List<String> out = new ArrayList<>();
        for (String part : command.split("&&|\\|\\||;|\\|")) {
            for (String word : part.strip().split("\\s+")) {
                if (word.startsWith("#")) {
                    break;
                }
                if (!ASSIGNMENT.matcher(word).matches()) {
                    out.add(word);
                    break;
                }
            }
        }
        return out;
    }

    @Test
    void noCommandRunsTheDefaultJavaAndTheKernelBenchmarksGoThroughTheLauncher() throws Exception {
        List<String> commands = shellCommands(Files.readString(ROOT.resolve("README.md")));
        assertFalse(commands.isEmpty());
        List<String> bareJava = commands.stream().filter(c -> programs(c).stream().anyMatch(p -> p.equals("java")
                || p.endsWith("/java"))).toList();
        assertEquals(List.of(), bareJava, "commands that run whatever java is first on the PATH");
        List<String> jarByHand = commands.stream().filter(c -> c.contains("benchmarks.jar")).toList();
        assertEquals(List.of(), jarByHand, "the JMH jar is run by ./spillway bench kernels, which finds a JDK >= 21 and builds it");
        assertTrue(commands.stream().anyMatch(c -> c.startsWith("./spillway bench kernels ")), "the README shows the kernel benchmarks");
    }

    @Test
    void theCheckSeesThroughEnvironmentAssignmentsAndContinuations() {
        String readme = """
                ```bash
                THP_MEM_ALLOC_ENABLE=1 java -jar kernels-bench/target/benchmarks.jar \\
                    'Matmul' -f 1
                mvn -q package && java -version
                ```
                ```java
                java is fine in a Java block
                ```
                """;
        List<String> commands = shellCommands(readme);
        assertEquals(List.of("THP_MEM_ALLOC_ENABLE=1 java -jar kernels-bench/target/benchmarks.jar 'Matmul' -f 1",
                "mvn -q package && java -version"), commands);
        assertEquals(List.of("java"), programs(commands.get(0)));
        assertEquals(List.of("mvn", "java"), programs(commands.get(1)));
    }
}
