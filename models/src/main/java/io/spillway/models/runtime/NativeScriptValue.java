package io.spillway.models.runtime;

import ai.djl.pytorch.jni.IValue;

/**
 * A value that exists only on the native side, made by one script call and passed to others as it
 * is (libtorch's packed quantized weights, which are objects of a C++ class, not tensors). Its
 * class declares its TorchScript type with {@link ScriptType}. {@link ScriptArguments} borrows
 * the value for a call and never releases it: its owner does.
 */
public interface NativeScriptValue {

    /** The native value, owned by this object. */
    IValue value();
}
