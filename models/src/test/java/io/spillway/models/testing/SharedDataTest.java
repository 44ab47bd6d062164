package io.spillway.models.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

/**
 * Missing shared data skips a test on a developer's machine but fails it in CI, so that a CI run
 * can never pass by skipping; and the project's own CI entry point must say it is CI.
 */
class SharedDataTest {

    /** Calls {@link SharedData#require} on its argument and prints what happened; run in a JVM with the environment under test. */
    public static void main(String[] args) {
        try {
            SharedData.require(args[0]);
            System.out.println("FOUND");
        } catch (TestAbortedException e) {
            System.out.println("SKIPPED");
        } catch (AssertionError e) {
            System.out.println("FAILED");
        }
    }

    private static String requireMissingWith(String ci) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), SharedDataTest.class.getName(),
                "no/such/shared/data");
        pb.environment().remove("CI");
        if (ci != null) {
            pb.environment().put("CI", ci);
        }
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return out.lines().reduce((a, b) -> b).orElse("");
    }

    @Test
    void missingDataFailsWhereverCiIsSetAndSkipsElsewhere() throws Exception {
        for (String ci : new String[] {"true", "TRUE", "1", "yes"}) {
            assertEquals("FAILED", requireMissingWith(ci), "CI=" + ci);
        }
        assertEquals("SKIPPED", requireMissingWith(null), "CI unset");
        assertEquals("SKIPPED", requireMissingWith("false"), "CI=false");
    }

    @Test
    void theCiEntryPointDeclaresItself() throws Exception {
        String run = Files.readString(Path.of("..", ".ci", "run"));
        int export = run.indexOf("export CI=true");
        assertTrue(export >= 0, ".ci/run exports CI=true, so that missing shared data fails the build instead of skipping");
        assertTrue(export < run.indexOf("mvn verify"), "before it runs the build");
    }
}
