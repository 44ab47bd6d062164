package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import io.spillway.models.attention.AttentionGroup;
import io.spillway.models.runtime.ScriptDeclarations;
import io.spillway.models.runtime.ScriptParameter;
import io.spillway.models.runtime.ScriptTypes;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * decoder.torchscript and the Java records it is called with must agree, and a change on either
 * side alone must fail the load, saying what differs, before any step runs.
 */
class DecoderScriptContractTest {

    private static final String SCRIPT = DecoderScript.source();
    private static final String LAYER_TUPLE = "Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]";
    private static final String GROUP_TUPLE = "Tuple[Tensor, Tensor, Tensor, List[Tensor], Tensor, int, int, int, int, int, int, int]";

    @Test
    void theShippedScriptAgreesWithJava() {
        assertDoesNotThrow(() -> DecoderScript.requireAgreement(SCRIPT));
    }

    /** What used to be mirrored by hand (`i * 9`, `// 5`, `3 + dims[3]`) now comes from the records' components. */
    @Test
    void theTupleLayoutsAreTheRecordsComponents() {
        assertEquals(LAYER_TUPLE, ScriptTypes.of(LayerWeights.class));
        assertEquals(GROUP_TUPLE, ScriptTypes.of(AttentionGroup.class));
        assertEquals(List.of("ids", "positions", "logit_rows", "logit_rows_mode", "attention", "model"),
                DecoderCall.parameters().stream().map(ScriptParameter::name).toList());
    }

    @Test
    void aScriptWhoseLayersTakeOneWeightFewerIsRefused() {
        String eight = LAYER_TUPLE.replace("Tensor, Tensor]", "Tensor]");
        String message = refused(mutated(LAYER_TUPLE, eight));
        assertTrue(message.contains("Decoder.forward and Java's DecoderCall and DecoderConstants disagree at parameter 6"), message);
        assertTrue(message.contains("model: Tuple[Tensor, Tensor, List[" + eight), message);
    }

    @Test
    void aScriptWhoseAttentionGroupsCarryOneNumberFewerIsRefused() {
        String fewer = GROUP_TUPLE.replace("int, int, int, int, int, int, int", "int, int, int, int, int, int");
        String message = refused(mutated(GROUP_TUPLE, fewer));
        assertTrue(message.contains("disagree at parameter 5"), message);
        assertTrue(message.contains("attention: Tuple[List[Tensor], Tensor, List[" + fewer), message);
    }

    @Test
    void aScriptWhoseLogitRowsValuesChangedIsRefused() {
        String message = refused(mutated("  SELECTED = 2", "  SELECTED = 3"));
        assertTrue(message.contains("Enum LogitRows is {NONE=0, ALL=1, SELECTED=3} in the script but {NONE=0, ALL=1, SELECTED=2} in Java"),
                message);
    }

    @Test
    void aScriptWithTwoParametersSwappedIsRefused() {
        String message = refused(mutated("ids: Tensor, positions: Tensor,", "positions: Tensor, ids: Tensor,"));
        assertTrue(message.contains("parameter 1: the script declares `positions: Tensor`, Java passes `ids: Tensor`"), message);
    }

    /** The Java side changing alone: a layer record with a twelfth tensor against the shipped script. */
    public record LayerWithOneMore(NDArray inputNorm, NDArray qkv, NDArray qkvBias, NDArray qkNorm, NDArray output, NDArray outputBias,
                                   NDArray postAttentionNorm, NDArray gateUp, NDArray gateUpBias, NDArray down, NDArray downBias,
                                   NDArray extra) {
    }

    @Test
    void javaRecordsThatChangedAloneAreRefused() {
        List<ScriptParameter> java = new ArrayList<>(DecoderCall.parameters());
        ScriptParameter model = java.removeLast();
        java.add(new ScriptParameter(model.name(), model.type().replace(LAYER_TUPLE, ScriptTypes.of(LayerWithOneMore.class))));
        ScriptDeclarations script = new ScriptDeclarations("decoder.torchscript", SCRIPT);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> script.requireForward("Decoder", java, "a changed Java side"));
        assertTrue(e.getMessage().contains("disagree at parameter 6"), e.getMessage());
    }

    @Test
    void theBenchmarkRootsAreCheckedToo() {
        String message = refused(mutated("def forward(self: __torch__.Projector, x: Tensor, weight: Tensor, bias: Tensor)",
                "def forward(self: __torch__.Projector, x: Tensor, weight: Tensor)"));
        assertTrue(message.contains("Projector.forward and Java's ProjectCall disagree at parameter 3"), message);
    }

    private static String mutated(String from, String to) {
        assertTrue(SCRIPT.contains(from), "the script no longer contains " + from);
        return SCRIPT.replace(from, to);
    }

    private static String refused(String script) {
        return assertThrows(IllegalStateException.class, () -> DecoderScript.requireAgreement(script)).getMessage();
    }
}
