package io.spillway.models.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.IValue;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The TorchScript types derived from Java records, and the values ScriptArguments makes of them agreeing with those types. */
class ScriptTypesTest {

    enum Kind { A, B }

    public record Inner(NDArray tensor, List<NDArray> tensors, int count, Kind kind) {
    }

    public record Outer(NDArray firstTensor, List<Inner> inners, long[] numbers) {
    }

    @Test
    void aRecordIsATupleOfItsComponentsAndACallItsParameters() {
        assertEquals("Tuple[Tensor, List[Tuple[Tensor, List[Tensor], int, int]], List[int]]", ScriptTypes.of(Outer.class));
        assertEquals(List.of(new ScriptParameter("first_tensor", "Tensor"),
                        new ScriptParameter("inners", "List[Tuple[Tensor, List[Tensor], int, int]]"),
                        new ScriptParameter("numbers", "List[int]")),
                ScriptTypes.parameters(Outer.class));
    }

    @Test
    void refusesATypeWithNoTorchScriptCounterpart() {
        assertThrows(IllegalArgumentException.class, () -> ScriptTypes.of(String.class));
    }

    /** libtorch names each value's type itself; it must be the type derived for it, in libtorch's notation. */
    @Test
    void theValuesMadeHaveTheDerivedTypes() {
        TorchRuntime.engine();
        try (NDManager manager = NDManager.newBaseManager();
             ScriptArguments arguments = new ScriptArguments()) {
            NDArray t = manager.zeros(new Shape(2), DataType.FLOAT32);
            Outer value = new Outer(t, List.of(new Inner(t, List.of(t, t), 3, Kind.B)), new long[] {1, 2});
            IValue converted = arguments.value(value);
            assertEquals(libtorchNotation(ScriptTypes.of(Outer.class)), converted.getType());
            assertEquals(1L, converted.toIValueTuple()[1].toIValueArray()[0].toIValueTuple()[3].toLong(), "an enum passes its ordinal");
        }
    }

    /** {@code List[X]} is {@code X[]} and {@code Tuple[A, B]} is {@code (A, B)} in libtorch's type names. */
    private static String libtorchNotation(String annotation) {
        if (annotation.startsWith("List[")) {
            return libtorchNotation(annotation.substring(5, annotation.length() - 1)) + "[]";
        }
        if (annotation.startsWith("Tuple[")) {
            StringBuilder out = new StringBuilder("(");
            String inner = annotation.substring(6, annotation.length() - 1);
            int depth = 0;
            int start = 0;
            for (int i = 0; i <= inner.length(); i++) {
                char c = i < inner.length() ? inner.charAt(i) : ',';
                depth += c == '[' ? 1 : c == ']' ? -1 : 0;
                if (c == ',' && depth == 0) {
                    out.append(start == 0 ? "" : ", ").append(libtorchNotation(inner.substring(start, i).strip()));
                    start = i + 1;
                }
            }
            return out.append(')').toString();
        }
        return annotation;
    }
}
