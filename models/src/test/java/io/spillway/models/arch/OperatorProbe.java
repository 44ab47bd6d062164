package io.spillway.models.arch;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.Arrays;

/**
 * A script that calls one of Spillway's operators directly, as {@code ops.spillway.<operator>}, for
 * the tests of its argument checks: a refused call must be an error naming the operator and the
 * reason, and the operator must still answer the next call.
 */
final class OperatorProbe implements AutoCloseable {

    private final String operator;
    private final TorchScriptModule module;

    /**
     * @param parameters the probe's forward parameters, TorchScript-typed ({@code "x: Tensor, group: int"})
     * @param call       the operator's arguments, names of those parameters or literals
     */
    OperatorProbe(NDManager manager, String operator, String parameters, String call) {
        this.operator = operator;
        this.module = TorchScriptModule.compile(manager, "OperatorProbe", DecoderScript.source(true) + """


                class OperatorProbe(Module):
                  __parameters__ = []
                  __buffers__ = []
                  training : bool
                  def forward(self: __torch__.OperatorProbe, %s) -> Tensor:
                    return ops.spillway.%s(%s)
                """.formatted(parameters, operator, call));
    }

    /** Runs the operator on {@code arguments} (arrays, ints or longs, doubles); the caller closes the result. */
    IValue call(Object... arguments) {
        return module.forward(Arrays.stream(arguments).map(OperatorProbe::value).toArray(IValue[]::new));
    }

    void assertRefused(String reason, Object... arguments) {
        EngineException refused = assertThrows(EngineException.class, () -> call(arguments).close());
        assertTrue(refused.getMessage().contains("spillway::" + operator + ": ") && refused.getMessage().contains(reason),
                refused.getMessage());
    }

    private static IValue value(Object argument) {
        return switch (argument) {
            case NDArray array -> IValue.from((PtNDArray) array);
            case Integer i -> IValue.from(i.longValue());
            case Long l -> IValue.from(l.longValue());
            case Double d -> IValue.from(d.doubleValue());
            default -> throw new IllegalArgumentException("no probe argument of " + argument.getClass().getName());
        };
    }

    @Override
    public void close() {
        module.close();
    }
}
