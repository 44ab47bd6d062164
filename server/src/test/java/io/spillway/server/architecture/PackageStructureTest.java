package io.spillway.server.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The server's packages as its architecture says: dependencies point one way (a request reads
 * one way through them), the wire format and the HTTP layer know nothing else of Spillway, and
 * the seam between them knows only the wire format.
 */
class PackageStructureTest {

    private static JavaClasses server;

    @BeforeAll
    static void load() {
        server = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("io.spillway.server");
    }

    /** Each package its own slice: io.spillway.server, .platform and .platform.cache are three. */
    private static final SliceAssignment PACKAGES = new SliceAssignment() {
        @Override
        public SliceIdentifier getIdentifierOf(JavaClass c) {
            return c.getPackageName().startsWith("io.spillway.server") ? SliceIdentifier.of(c.getPackageName()) : SliceIdentifier.ignore();
        }

        @Override
        public String getDescription() {
            return "packages of io.spillway.server";
        }
    };

    @Test
    void noPackageDependsOnItselfThroughOthers() {
        slices().assignedFrom(PACKAGES).should().beFreeOfCycles().check(server);
    }

    @Test
    void theWireFormatDependsOnNothingElseOfSpillway() {
        noClasses().that().resideInAPackage("io.spillway.server.wire..").should().dependOnClassesThat()
                .resideOutsideOfPackages("io.spillway.server.wire..", "java..", "com.fasterxml.jackson..").check(server);
    }

    @Test
    void theHttpLayerDependsOnNothingElseOfSpillway() {
        noClasses().that().resideInAPackage("io.spillway.server.http..").should().dependOnClassesThat()
                .resideOutsideOfPackages("io.spillway.server.http..", "java..", "io.netty..", "org.slf4j..").check(server);
    }

    @Test
    void outputParsingKnowsOnlyTheWireFormat() {
        noClasses().that().resideInAPackage("io.spillway.server.output..").should().dependOnClassesThat()
                .resideOutsideOfPackages("io.spillway.server.output..", "io.spillway.server.wire..", "java..", "com.fasterxml.jackson..")
                .check(server);
    }

    @Test
    void theGenerationSeamKnowsOnlyTheWireFormat() {
        noClasses().that().resideInAPackage("io.spillway.server.generation..").should().dependOnClassesThat()
                .resideOutsideOfPackages("io.spillway.server.generation..", "io.spillway.server.wire..", "java..").check(server);
    }
}
