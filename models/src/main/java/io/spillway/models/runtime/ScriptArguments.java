package io.spillway.models.runtime;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The native argument values of one script call, converted from Java values as {@link ScriptTypes}
 * types them (a record becomes a tuple of its components, in order), and owned here: {@link #close}
 * releases every one. An {@link IValue} shares its tensors' storage and only holds a reference to
 * them, so closing it after the call frees no tensor; the tensors keep their own owners.
 *
 * <p>Not thread-safe: one per call, on the thread that makes it.
 */
public final class ScriptArguments implements AutoCloseable {

    /**
     * Each record class's accessors, in component order. {@link Class#getRecordComponents} builds
     * them anew at every call, which cost 10-25 µs of every decode step here; a ClassValue derives
     * them once per class and never changes them.
     */
    private static final ClassValue<List<Method>> ACCESSORS = new ClassValue<>() {
        @Override
        protected List<Method> computeValue(Class<?> type) {
            return Arrays.stream(type.getRecordComponents()).map(RecordComponent::getAccessor).toList();
        }
    };

    private final List<IValue> owned = new ArrayList<>();

    /** One argument per component of {@code call}, in component order: a method's parameter list. */
    public List<IValue> components(Record call) {
        List<Method> accessors = ACCESSORS.get(call.getClass());
        List<IValue> values = new ArrayList<>(accessors.size());
        for (Method accessor : accessors) {
            values.add(value(read(call, accessor)));
        }
        return values;
    }

    /** {@code value} as a native argument, owned by this object unless it is a borrowed {@link NativeScriptValue}. */
    public IValue value(Object value) {
        if (value instanceof NativeScriptValue borrowed) {
            return borrowed.value();
        }
        IValue converted = switch (value) {
            case NDArray array -> IValue.from((PtNDArray) array);
            case Integer i -> IValue.from(i.longValue());
            case Long l -> IValue.from(l.longValue());
            case Double d -> IValue.from(d.doubleValue());
            case Enum<?> e -> IValue.from((long) e.ordinal());
            case long[] longs -> IValue.listFrom(longs);
            case Record record -> IValue.tupleFrom(components(record).toArray(IValue[]::new));
            case List<?> list -> list(list);
            default -> throw new IllegalArgumentException("no TorchScript value for a " + value.getClass().getName());
        };
        owned.add(converted);
        return converted;
    }

    private IValue list(List<?> list) {
        if (list.isEmpty() || list.getFirst() instanceof NDArray) {
            return IValue.listFrom(list.stream().map(PtNDArray.class::cast).toArray(PtNDArray[]::new));
        }
        // libtorch types a generic list by its first element: an empty one would have no type.
        return IValue.listFrom(list.stream().map(this::value).toArray(IValue[]::new));
    }

    private static Object read(Record record, Method accessor) {
        try {
            return accessor.invoke(record);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("record " + record.getClass().getName() + " must be public to be passed to a script", e);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    @Override
    public void close() {
        owned.forEach(IValue::close);
        owned.clear();
    }
}
