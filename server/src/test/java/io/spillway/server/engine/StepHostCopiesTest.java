package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The step's device-to-host byte counts (EngineTest, DeviceSamplerTest) see only copies made
 * through {@code HostCopies}: this keeps every other way of reading a tensor into Java out of the
 * code a step runs (the engine, the sampler, the decoder, attention), so those counts are all there is.
 */
class StepHostCopiesTest {

    private static final Pattern READS = Pattern.compile(
            "\\.(toFloatArray|toLongArray|toIntArray|toDoubleArray|toBooleanArray|toByteArray|toArray|toByteBuffer|getFloat|getLong|getInt"
                    + "|getDouble)\\(\\)");

    /**
     * Sources in those packages that run only while a model loads, never in a step: an int4
     * checkpoint's g_idx is read once to check that its groups are in input order.
     */
    private static final List<String> LOAD_TIME_ONLY = List.of("Int4Reader.java");

    @Test
    void onlyHostCopiesReadsTensorsDuringAStep() throws Exception {
        List<Path> roots = List.of(Path.of("src/main/java/io/spillway/server/engine"),
                Path.of("../models/src/main/java/io/spillway/models/sampling"), Path.of("../models/src/main/java/io/spillway/models/arch"),
                Path.of("../models/src/main/java/io/spillway/models/attention"));
        List<String> found = new ArrayList<>();
        int files = 0;
        for (Path root : roots) {
            assertTrue(Files.isDirectory(root), root.toAbsolutePath().toString());
            try (Stream<Path> all = Files.walk(root)) {
                for (Path f : all.filter(p -> p.toString().endsWith(".java") && !LOAD_TIME_ONLY.contains(p.getFileName().toString())).toList()) {
                    files++;
                    List<String> lines = Files.readAllLines(f);
                    for (int i = 0; i < lines.size(); i++) {
                        Matcher m = READS.matcher(lines.get(i));
                        // Streams of Java values end in toArray() too: only a tensor's read counts.
                        if (m.find() && !lines.get(i).contains("stream(") && !lines.get(i).contains("Stream")) {
                            found.add(f + ":" + (i + 1) + ": " + lines.get(i).strip());
                        }
                    }
                }
            }
        }
        assertTrue(files > 20, "the step's sources were read: " + files);
        assertEquals(List.of(), found, "tensors read into Java outside HostCopies");
    }
}
