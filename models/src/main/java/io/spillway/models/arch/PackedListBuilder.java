package io.spillway.models.arch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;
import io.spillway.models.runtime.ScriptArguments;
import io.spillway.models.runtime.TorchScriptModule;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Builds one of the decoder's native lists of packed projections ({@link Int8Weights},
 * {@link GroupedWeights}, {@link OneDnnWeights}) a projection at a time: each call of a packing
 * script returns a list of one entry, kept here, so that the caller can free that projection's
 * arrays before the next. A list may take entries from more than one packer of the same entry type
 * ({@link GroupedWeights}' int4 and int8 ones).
 * Owns the compiled packers and the entries until {@link #finish} or {@link #close}.
 */
final class PackedListBuilder implements AutoCloseable {

    private final NDManager manager;
    private final DecoderScript.Root packer;
    /** The packers compiled so far; each is compiled when first used. */
    private final Map<DecoderScript.Root, TorchScriptModule> scripts = new EnumMap<>(DecoderScript.Root.class);
    private final List<IValue> entries = new ArrayList<>();

    /** A list packed by {@code packer}, the one {@link #add(Record)} and {@link #finish} run. */
    PackedListBuilder(NDManager manager, DecoderScript.Root packer) {
        this.manager = manager;
        this.packer = packer;
    }

    private TorchScriptModule script(DecoderScript.Root root) {
        return scripts.computeIfAbsent(root, r -> DecoderScript.compile(manager, r));
    }

    /** As {@link #add(Record)}, packed by {@code other} instead. */
    IValue add(DecoderScript.Root other, Record call) {
        if (!run(script(other), call, null)) {
            throw new IllegalStateException(other.className + " returned no entry");
        }
        return entries.get(entries.size() - 1);
    }

    /**
     * Runs the packer on {@code call} (one projection's arrays, as the script's parameters) and keeps its entry.
     *
     * @return the entry, which the builder owns
     */
    IValue add(Record call) {
        return add(packer, call);
    }

    /**
     * As {@link #add}, for a packer that may refuse a projection by returning no entry: then
     * {@code refused} (a tensor the caller owns and keeps alive as long as the list) takes its place.
     *
     * @return whether the packer's entry was kept
     */
    boolean addIfAny(Record call, NDArray refused) {
        return run(script(packer), call, refused);
    }

    private boolean run(TorchScriptModule script, Record call, NDArray refused) {
        try (ScriptArguments arguments = new ScriptArguments();
             IValue out = script.forward(arguments.components(call).toArray(IValue[]::new))) {
            IValue[] returned = out.toIValueArray();
            if (returned.length > 0) {
                entries.add(returned[0]);
                return true;
            }
            if (refused != null) {
                entries.add(IValue.from((PtNDArray) refused));
            }
            return false;
        }
    }

    /**
     * The list of the entries added; with none, what the packer returns for {@code emptyCall}, a
     * typed empty list (libtorch types a list by its first element, so only a script can make an
     * empty one). The builder is closed.
     */
    IValue finish(Record emptyCall) {
        try {
            if (entries.isEmpty()) {
                try (ScriptArguments arguments = new ScriptArguments()) {
                    return script(packer).forward(arguments.components(emptyCall).toArray(IValue[]::new));
                }
            }
            return IValue.listFrom(entries.toArray(IValue[]::new));
        } finally {
            close();
        }
    }

    @Override
    public void close() {
        entries.forEach(IValue::close);
        entries.clear();
        scripts.values().forEach(TorchScriptModule::close);
        scripts.clear();
    }
}
