package io.spillway.vectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A collection's files hold document text: whatever the process umask, its directories must be
 * 700 and its files 600. The writer runs in a JVM of its own under umask 000, the most permissive.
 */
class OwnerOnlyStorageTest {

    @TempDir
    Path tmp;

    static List<String> readableByOthers(Path root) throws Exception {
        List<String> open = new ArrayList<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.toList()) {
                Set<PosixFilePermission> perms;
                try {
                    perms = Files.getPosixFilePermissions(p);
                } catch (java.nio.file.NoSuchFileException gone) {
                    continue; // a temporary file renamed away while walking
                }
                for (PosixFilePermission bit : perms) {
                    if (!bit.name().startsWith("OWNER_")) {
                        open.add(root.getParent().relativize(p) + " " + PosixFilePermissions.toString(perms));
                        break;
                    }
                }
            }
        }
        return open;
    }

    @Test
    void logsSnapshotsAndDirectoriesAreOwnerOnlyUnderAnyUmask() throws Exception {
        Path store = tmp.resolve("store");
        Path dir = store.resolve("owner").resolve("notes");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process child = new ProcessBuilder("sh", "-c", "umask 000 && exec \"$0\" \"$@\"", java, "-cp", System.getProperty("java.class.path"),
                "-Xmx256m", CrashWriter.class.getName(), dir.toString(), "1").redirectError(ProcessBuilder.Redirect.INHERIT).start();
        boolean snapshotted = false;
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            String line;
            while (!snapshotted && System.nanoTime() < deadline && (line = lines.readLine()) != null) {
                if (line.startsWith("ACK ")) {
                    try (Stream<Path> files = Files.list(dir)) {
                        snapshotted = files.anyMatch(f -> f.getFileName().toString().matches("snapshot-\\d+\\.bin"));
                    }
                }
            }
        } finally {
            child.toHandle().destroyForcibly();
            child.waitFor(30, TimeUnit.SECONDS);
        }
        assertTrue(snapshotted, "the writer logged enough to snapshot");
        try (Stream<Path> files = Files.list(dir)) {
            assertTrue(files.anyMatch(f -> f.getFileName().toString().startsWith("wal-")));
        }
        assertEquals(List.of(), readableByOthers(store));
    }
}
