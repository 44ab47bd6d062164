package io.spillway.models.runtime;

import ai.djl.ndarray.NDArray;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The TorchScript type of each Java type that {@link ScriptArguments} passes, so that a record can
 * stand for a tuple (its components, in order) and a call record for a method's parameter list.
 * The Java declaration is then the only description of a call's layout: its types are derived from
 * it here, its values converted from it there, and {@link ScriptDeclarations} compares the result
 * with what the script declares.
 *
 * <p>{@code NDArray} is {@code Tensor}; {@code int} and {@code long} are {@code int}; {@code double} is {@code float}; {@code long[]}
 * is {@code List[int]}; an enum is {@code int} (its ordinal); a record is a {@code Tuple} of its
 * components; {@code List<X>} is {@code List[X]}; a {@link NativeScriptValue} is its class's
 * {@link ScriptType}.
 */
public final class ScriptTypes {

    private ScriptTypes() {
    }

    /** A call record's components as a method's parameters: snake_case names, derived types. */
    public static List<ScriptParameter> parameters(Class<? extends Record> call) {
        return Arrays.stream(call.getRecordComponents()).map(ScriptTypes::parameter).toList();
    }

    /** One parameter named {@code name} whose value is a {@code type}. */
    public static ScriptParameter parameter(String name, Type type) {
        return new ScriptParameter(name, of(type));
    }

    private static ScriptParameter parameter(RecordComponent component) {
        return new ScriptParameter(snakeCase(component.getName()), of(component.getGenericType()));
    }

    /** The TorchScript annotation of a Java type; refuses a type with no TorchScript counterpart here. */
    public static String of(Type type) {
        if (type instanceof ParameterizedType p && p.getRawType() == List.class) {
            return "List[" + of(p.getActualTypeArguments()[0]) + "]";
        }
        if (type instanceof Class<?> c) {
            if (NDArray.class.isAssignableFrom(c)) {
                return "Tensor";
            }
            if (c == int.class || c == long.class || c.isEnum()) {
                return "int";
            }
            if (c == double.class) {
                return "float";
            }
            if (c == long[].class) {
                return "List[int]";
            }
            if (NativeScriptValue.class.isAssignableFrom(c) && c.getAnnotation(ScriptType.class) != null) {
                return c.getAnnotation(ScriptType.class).value();
            }
            if (c.isRecord()) {
                return Arrays.stream(c.getRecordComponents()).map(r -> of(r.getGenericType()))
                        .collect(Collectors.joining(", ", "Tuple[", "]"));
            }
        }
        throw new IllegalArgumentException("no TorchScript type for Java type " + type.getTypeName());
    }

    static String snakeCase(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }
}
