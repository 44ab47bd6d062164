package io.spillway.models.runtime;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The TorchScript type of a {@link NativeScriptValue} class, as a script declares it: such a value
 * has no Java structure for {@link ScriptTypes} to derive a type from.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface ScriptType {
    String value();
}
