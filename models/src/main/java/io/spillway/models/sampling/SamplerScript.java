package io.spillway.models.sampling;

import ai.djl.ndarray.NDManager;
import io.spillway.models.runtime.ScriptDeclarations;
import io.spillway.models.runtime.ScriptTypes;
import io.spillway.models.runtime.TorchScriptModule;

/**
 * {@code sampler.torchscript} and its contract with Java: {@code Sampler.forward} takes a
 * {@link SamplerCall}'s components. Checked against the text before libtorch compiles it, so that a
 * change on one side alone fails the load naming the parameter, not a step with a shape error.
 */
public final class SamplerScript {

    static final String RESOURCE = "sampler.torchscript";
    private static final String ROOT = "Sampler";

    private SamplerScript() {
    }

    static String source() {
        return TorchScriptModule.resource(SamplerScript.class, RESOURCE);
    }

    static void requireAgreement(String source) {
        new ScriptDeclarations(RESOURCE, source).requireForward(ROOT, ScriptTypes.parameters(SamplerCall.class), "Java's SamplerCall");
    }

    /** The shipped script, checked and compiled. */
    public static TorchScriptModule compile(NDManager manager) {
        String source = source();
        requireAgreement(source);
        return TorchScriptModule.compile(manager, ROOT, source);
    }
}
