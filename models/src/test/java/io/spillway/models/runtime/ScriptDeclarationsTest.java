package io.spillway.models.runtime;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reading a script's declared signatures and Enums, and refusing one that differs from Java's records. */
class ScriptDeclarationsTest {

    private static final String SCRIPT = """
            # Modes, as Java's Mode.
            class Mode(Enum):
              OFF = 0
              ON = 1  # a comment


            def helper(x: Tensor) -> Tensor:
              return x


            class Root(Module):
              __parameters__ = []
              training : bool
              def forward(self: __torch__.Root, x: Tensor, mode: int,
                          pairs: List[Tuple[Tensor, List[Tensor], int]],
                          table: List[int]) -> Tensor:
                return x
            """;

    enum Mode { OFF, ON }

    public record Pair(NDArray first, List<NDArray> rest, int count) {
    }

    public record RootCall(NDArray x, Mode mode, List<Pair> pairs, long[] table) {
    }

    public record ShorterPair(NDArray first, List<NDArray> rest) {
    }

    public record ShorterRootCall(NDArray x, Mode mode, List<ShorterPair> pairs, long[] table) {
    }

    public record SwappedRootCall(Mode mode, NDArray x, List<Pair> pairs, long[] table) {
    }

    enum Reordered { ON, OFF }

    private final ScriptDeclarations declarations = new ScriptDeclarations("test.torchscript", SCRIPT);

    @Test
    void readsAForwardSignatureOverSeveralLinesWithoutSelf() {
        assertEquals(List.of(new ScriptParameter("x", "Tensor"), new ScriptParameter("mode", "int"),
                        new ScriptParameter("pairs", "List[Tuple[Tensor, List[Tensor], int]]"), new ScriptParameter("table", "List[int]")),
                declarations.forwardParameters("Root"));
    }

    @Test
    void readsAnEnumsMembers() {
        assertEquals(Map.of("OFF", 0L, "ON", 1L), declarations.enumMembers("Mode"));
    }

    @Test
    void acceptsTheRecordThatMatches() {
        assertDoesNotThrow(() -> declarations.requireForward("Root", ScriptTypes.parameters(RootCall.class), "RootCall"));
        assertDoesNotThrow(() -> declarations.requireEnum(Mode.class));
    }

    @Test
    void refusesATupleOfAnotherLengthNamingTheParameterAndWhereTheTypesPart() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> declarations.requireForward("Root", ScriptTypes.parameters(ShorterRootCall.class), "ShorterRootCall"));
        assertTrue(e.getMessage().contains("parameter 3"), e.getMessage());
        assertTrue(e.getMessage().contains("`pairs: List[Tuple[Tensor, List[Tensor], int]]`"), e.getMessage());
        assertTrue(e.getMessage().contains("`pairs: List[Tuple[Tensor, List[Tensor]]]`"), e.getMessage());
        assertTrue(e.getMessage().contains("part after `List[Tuple[Tensor,List[Tensor]`"), e.getMessage());
    }

    @Test
    void refusesParametersInAnotherOrder() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> declarations.requireForward("Root", ScriptTypes.parameters(SwappedRootCall.class), "SwappedRootCall"));
        assertTrue(e.getMessage().contains("parameter 1: the script declares `x: Tensor`, Java passes `mode: int`"), e.getMessage());
    }

    @Test
    void refusesAMissingParameter() {
        List<ScriptParameter> fewer = ScriptTypes.parameters(RootCall.class).subList(0, 3);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> declarations.requireForward("Root", fewer, "fewer"));
        assertTrue(e.getMessage().contains("parameter 4: the script declares `table: List[int]`, Java passes nothing"), e.getMessage());
    }

    @Test
    void refusesAnEnumWhoseValuesDiffer() {
        ScriptDeclarations other = new ScriptDeclarations("t", SCRIPT.replace("class Mode(Enum)", "class Reordered(Enum)"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> other.requireEnum(Reordered.class));
        assertTrue(e.getMessage().contains("Enum Reordered is {OFF=0, ON=1} in the script but {ON=0, OFF=1} in Java"), e.getMessage());
    }

    @Test
    void refusesAScriptWithoutTheClass() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> declarations.forwardParameters("Missing"));
        assertTrue(e.getMessage().contains("declares no `class Missing(Module):`"), e.getMessage());
    }
}
