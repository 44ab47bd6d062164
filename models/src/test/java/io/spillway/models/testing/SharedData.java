package io.spillway.models.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * The shared test data beside the project ({@code ../shared}). Outside CI a test that needs it is
 * skipped when it is absent; in CI its absence fails the test, so a broken checkout can never pass
 * by skipping.
 */
public final class SharedData {

    private SharedData() {
    }

    public static Path dir() {
        String configured = System.getProperty("spillway.shared.dir");
        if (configured != null && Files.isDirectory(Paths.get(configured))) {
            return Paths.get(configured).toAbsolutePath().normalize();
        }
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolveSibling("shared");
            if (Files.isDirectory(candidate.resolve("models"))) {
                return candidate;
            }
        }
        return null;
    }

    /** A path inside the shared data, or skips (fails in CI) when it is not there. */
    public static Path require(String relative) {
        Path base = dir();
        Path p = base == null ? null : base.resolve(relative);
        if (p == null || !Files.exists(p)) {
            String message = "shared test data " + relative + " not found (expected ../shared beside the project)";
            if (inCi()) {
                Assertions.fail(message + "; in CI it must be there");
            }
            Assumptions.abort(message);
        }
        return p;
    }

    /**
     * Whether this is a CI run: CI set to anything but empty, "false" or "0". CI services set
     * "true" or "1", and .ci/run sets "true"; anything short of an explicit no counts, since a CI
     * run that skips is a CI run that proves nothing.
     */
    public static boolean inCi() {
        String ci = System.getenv("CI");
        return ci != null && !ci.isBlank() && !ci.strip().equalsIgnoreCase("false") && !ci.strip().equals("0");
    }
}
