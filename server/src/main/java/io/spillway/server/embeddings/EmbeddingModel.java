package io.spillway.server.embeddings;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import ai.onnxruntime.TensorInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A sentence-transformers model in ONNX Runtime: tokenize, run the encoder over a padded batch,
 * pool under the attention mask, normalize. The CUDA execution provider is used when the device
 * asks for it or, on {@code auto}, when ONNX Runtime can load it; otherwise the CPU provider.
 *
 * <p>{@link #embed} is called from one thread (the batcher's); ONNX Runtime parallelizes inside.
 */
public final class EmbeddingModel implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddingModel.class);
    private static final long NATIVE_SETUP_STACK_BYTES = 64L << 20;
    /** ONNX Runtime's pool threads are created from this thread and so carry its name (cut to 15 characters by Linux). */
    static final String SETUP_THREAD = "onnx-runtime-setup";

    private final EmbeddingModelSource source;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final HuggingFaceTokenizer tokenizer;
    /** No special tokens, no truncation: for measuring and cutting text (chunking). */
    private final HuggingFaceTokenizer spanTokenizer;
    private final boolean wantsTokenTypes;
    private final String outputName;
    private final int dimension;
    private final int vocabSize;
    private final String device;

    private EmbeddingModel(EmbeddingModelSource source, OrtEnvironment env, OrtSession session, HuggingFaceTokenizer tokenizer,
                           HuggingFaceTokenizer spanTokenizer, String device, int vocabSize) throws OrtException {
        this.source = source;
        this.spanTokenizer = spanTokenizer;
        this.env = env;
        this.session = session;
        this.tokenizer = tokenizer;
        this.device = device;
        this.wantsTokenTypes = session.getInputNames().contains("token_type_ids");
        if (!session.getInputNames().contains("input_ids") || !session.getInputNames().contains("attention_mask")) {
            throw new IllegalArgumentException("embedding model " + source.onnx().describe() + " takes inputs " + session.getInputNames()
                    + "; a sentence-transformers export takes input_ids and attention_mask");
        }
        String chosen = null;
        int dim = -1;
        for (Map.Entry<String, NodeInfo> e : session.getOutputInfo().entrySet()) {
            if (e.getValue().getInfo() instanceof TensorInfo t && t.getShape().length == 3) {
                chosen = e.getKey();
                dim = (int) t.getShape()[2];
                if (e.getKey().equals("last_hidden_state") || e.getKey().equals("token_embeddings")) {
                    break;
                }
            }
        }
        if (chosen == null || dim <= 0) {
            throw new IllegalArgumentException("embedding model " + source.onnx().describe() + " has no [batch, tokens, dim] output: "
                    + session.getOutputInfo().keySet());
        }
        this.outputName = chosen;
        this.dimension = dim;
        this.vocabSize = vocabSize;
    }

    /** The device memory ONNX Runtime's CUDA arena may take when {@link #load(EmbeddingModelSource, String)} does not say. */
    public static final long DEFAULT_GPU_MEMORY_BYTES = 512L << 20;

    /** Loads the model; {@code device} is auto, cpu or cuda (or cuda:N). */
    public static EmbeddingModel load(EmbeddingModelSource source, String device) throws IOException {
        return load(source, device, DEFAULT_GPU_MEMORY_BYTES);
    }

    /**
     * Loads the model; {@code device} is auto, cpu or cuda (or cuda:N). On a GPU, ONNX Runtime's
     * arena is capped at {@code gpuMemoryBytes} ({@link #cudaArenaOptions}): the engine sizes its
     * KV cache from what is left of the same device and keeps this much out of it.
     */
    public static EmbeddingModel load(EmbeddingModelSource source, String device, long gpuMemoryBytes) throws IOException {
        OrtEnvironment env;
        try {
            env = onLargeStack(OrtEnvironment::getEnvironment);
        } catch (OrtException e) {
            throw new IOException("ONNX Runtime does not start: " + e.getMessage(), e);
        }
        byte[] tokenizerJson;
        try (InputStream in = source.tokenizer().open()) {
            tokenizerJson = in.readAllBytes();
        }
        int vocab = vocabSize(tokenizerJson);
        HuggingFaceTokenizer tokenizer;
        try (InputStream in = new java.io.ByteArrayInputStream(tokenizerJson)) {
            tokenizer = HuggingFaceTokenizer.newInstance(in, Map.of(
                    "addSpecialTokens", "true",
                    "truncation", "true",
                    "padding", "false",
                    "maxLength", Integer.toString(source.maxLength())));
        }
        HuggingFaceTokenizer spanTokenizer;
        try (InputStream in = new java.io.ByteArrayInputStream(tokenizerJson)) {
            spanTokenizer = HuggingFaceTokenizer.newInstance(in, Map.of("addSpecialTokens", "false", "truncation", "false",
                    "padding", "false"));
        }
        ByteBuffer graph;
        try (InputStream in = source.onnx().open()) {
            // Off-heap: ONNX Runtime copies the graph into its own memory, and a model this size
            // has no business on the Java heap.
            graph = readDirect(in, new byte[1 << 20]);
        }
        try {
            // On auto, ask for CUDA only where a GPU is visible: ONNX Runtime logs an error for
            // every failed attempt to load its CUDA provider.
            boolean tryCuda = device.startsWith("cuda") || (device.equals("auto") && ai.djl.util.cuda.CudaUtils.getGpuCount() > 0);
            String used = tryCuda ? null : "cpu";
            OrtSession session = null;
            if (used == null) {
                int ordinal = device.startsWith("cuda:") ? Integer.parseInt(device.substring(5)) : 0;
                try (OrtSession.SessionOptions options = options();
                     OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(ordinal)) {
                    for (Map.Entry<String, String> option : cudaArenaOptions(gpuMemoryBytes).entrySet()) {
                        cuda.add(option.getKey(), option.getValue());
                    }
                    options.addCUDA(cuda);
                    session = onLargeStack(() -> env.createSession(graph.duplicate(), options));
                    used = "cuda:" + ordinal;
                } catch (OrtException | UnsatisfiedLinkError e) {
                    if (device.startsWith("cuda")) {
                        throw new IOException("embedding model: the CUDA execution provider is not usable here: " + e.getMessage(), e);
                    }
                    // Loud: on a GPU box this is a misconfiguration (no CUDA provider, or a model larger
                    // than embeddings.gpu-memory-bytes, which bounds its weights too).
                    LOG.warn("embedding model: the CUDA provider could not run it ({}); using the CPU", e.getMessage());
                    used = "cpu";
                }
            }
            if (session == null) {
                try (OrtSession.SessionOptions options = options()) {
                    session = onLargeStack(() -> env.createSession(graph.duplicate(), options));
                }
            }
            EmbeddingModel model = new EmbeddingModel(source, env, session, tokenizer, spanTokenizer, used, vocab);
            LOG.info("embeddings: {} from {} on {} (ONNX Runtime): {} dimensions, {} pooling{}, up to {} tokens", source.name(),
                    source.onnx().describe(), used, model.dimension, source.pooling().name().toLowerCase(),
                    source.normalize() ? ", normalized" : "", source.maxLength());
            return model;
        } catch (OrtException e) {
            tokenizer.close();
            spanTokenizer.close();
            throw new IOException("embedding model " + source.onnx().describe() + " does not load in ONNX Runtime: " + e.getMessage(), e);
        }
    }

    /** Work for ONNX Runtime's native code, which may need a deep stack. */
    private interface NativeWork<T> {
        T run() throws OrtException;
    }

    /**
     * Runs {@code work} on a thread with room for deep native recursion. Creating ONNX Runtime's
     * environment (the first {@link OrtEnvironment#getEnvironment()}) recurses some 10,000 frames
     * deep, more than the 1 MB stack a Java thread gets by default, and a native stack overflow is
     * a SIGSEGV that kills the process; building a session's graph recurses too. Only the pages a
     * thread touches are committed, so the large stack costs address space, not memory.
     */
    private static <T> T onLargeStack(NativeWork<T> work) throws OrtException {
        java.util.concurrent.CompletableFuture<T> result = new java.util.concurrent.CompletableFuture<>();
        Thread.ofPlatform().name(SETUP_THREAD).stackSize(NATIVE_SETUP_STACK_BYTES).start(() -> {
            try {
                result.complete(work.run());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        try {
            return result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while ONNX Runtime was setting up the embedding model", e);
        } catch (java.util.concurrent.ExecutionException e) {
            switch (e.getCause()) {
                case OrtException ort -> throw ort;
                case RuntimeException r -> throw r;
                case Error err -> throw err;
                default -> throw new IllegalStateException(e.getCause());
            }
        }
    }

    private static ByteBuffer readDirect(InputStream in, byte[] chunk) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(16 << 20);
        int n;
        while ((n = in.read(chunk)) > 0) {
            if (buf.remaining() < n) {
                ByteBuffer bigger = ByteBuffer.allocateDirect(Math.max(buf.capacity() * 2, buf.position() + n));
                buf.flip();
                bigger.put(buf);
                buf = bigger;
            }
            buf.put(chunk, 0, n);
        }
        buf.flip();
        return buf;
    }

    /**
     * The CUDA provider's arena settings: a hard limit, and growth by what is asked rather than by
     * doubling, which would overshoot the limit's intent by up to half of it in one step. Without
     * them the arena grows to whatever the largest batch once needed and keeps it.
     */
    static Map<String, String> cudaArenaOptions(long gpuMemoryBytes) {
        if (gpuMemoryBytes <= 0) {
            throw new IllegalArgumentException("embeddings.gpu-memory-bytes must be positive, was " + gpuMemoryBytes);
        }
        return Map.of("gpu_mem_limit", Long.toString(gpuMemoryBytes), "arena_extend_strategy", "kSameAsRequested");
    }

    private static OrtSession.SessionOptions options() throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        options.setIntraOpNumThreads(Runtime.getRuntime().availableProcessors());
        // The engine's threads compute on the same cores, and a pool thread left spinning for the
        // next run would hold one of them for some 20 ms after every call, beside generation too
        // (on a GPU the pool still runs on the CPU). Not spinning costs a lone text about half a
        // millisecond of wake-up (README, Benchmarks).
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
        return options;
    }

    /** One past the largest id in tokenizer.json's vocabulary and added tokens. */
    private static int vocabSize(byte[] tokenizerJson) throws IOException {
        com.fasterxml.jackson.databind.JsonNode root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(tokenizerJson);
        int max = -1;
        com.fasterxml.jackson.databind.JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) {
            for (com.fasterxml.jackson.databind.JsonNode id : (Iterable<com.fasterxml.jackson.databind.JsonNode>) vocab::elements) {
                max = Math.max(max, id.asInt());
            }
        } else if (vocab.isArray()) {
            max = vocab.size() - 1;
        }
        for (com.fasterxml.jackson.databind.JsonNode added : root.path("added_tokens")) {
            max = Math.max(max, added.path("id").asInt());
        }
        return max + 1;
    }

    public String name() {
        return source.name();
    }

    public int dimension() {
        return dimension;
    }

    public int maxLength() {
        return source.maxLength();
    }

    public String device() {
        return device;
    }

    /** Token ids of one input with the model's special tokens, truncated to its maximum length. */
    public long[] tokenize(String text) {
        return tokenizer.encode(text).getIds();
    }

    /**
     * Offsets {@code [start, end)} of each token of {@code text} as indices into the Java string
     * (UTF-16 units), without special tokens and without truncation: how chunking cuts text at
     * token boundaries.
     */
    public int[][] tokenSpans(String text) {
        Encoding e = spanTokenizer.encode(text);
        ai.djl.huggingface.tokenizers.jni.CharSpan[] spans = e.getCharTokenSpans();
        // The Rust tokenizer counts offsets in Unicode scalar values (encode_char_offsets); a
        // character outside the BMP is one of those but two Java chars, so every offset after
        // one would land a char short.
        int[] utf16 = utf16Offsets(text);
        int[][] out = new int[spans.length][];
        for (int i = 0; i < spans.length; i++) {
            out[i] = spans[i] == null ? null : new int[] {utf16[spans[i].getStart()], utf16[spans[i].getEnd()]};
        }
        return out;
    }

    /** For each code point offset 0..n (inclusive), the UTF-16 index it starts at. */
    static int[] utf16Offsets(String text) {
        int[] at = new int[text.codePointCount(0, text.length()) + 1];
        int i = 0;
        for (int cp = 0; cp < at.length - 1; cp++) {
            at[cp] = i;
            i += Character.charCount(text.codePointAt(i));
        }
        at[at.length - 1] = text.length();
        return at;
    }

    /** Embeds a batch of tokenized inputs (each already within {@link #maxLength()}). */
    public float[][] embed(List<long[]> inputs) throws OrtException {
        int batch = inputs.size();
        int longest = 1;
        for (long[] ids : inputs) {
            longest = Math.max(longest, ids.length);
        }
        LongBuffer ids = LongBuffer.allocate(batch * longest);
        LongBuffer mask = LongBuffer.allocate(batch * longest);
        for (long[] row : inputs) {
            for (int t = 0; t < longest; t++) {
                ids.put(t < row.length ? row[t] : 0);
                mask.put(t < row.length ? 1 : 0);
            }
        }
        ids.flip();
        mask.flip();
        long[] shape = {batch, longest};
        Map<String, OnnxTensor> feed = new HashMap<>();
        try {
            feed.put("input_ids", OnnxTensor.createTensor(env, ids, shape));
            feed.put("attention_mask", OnnxTensor.createTensor(env, mask, shape));
            if (wantsTokenTypes) {
                feed.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.allocate(batch * longest), shape));
            }
            try (OrtSession.Result result = session.run(feed, java.util.Set.of(outputName))) {
                OnnxValue value = result.get(outputName).orElseThrow();
                FloatBuffer hidden = ((OnnxTensor) value).getFloatBuffer();
                float[] all = new float[hidden.remaining()];
                hidden.get(all);
                float[][] out = new float[batch][];
                for (int b = 0; b < batch; b++) {
                    float[] v = source.pooling().pool(all, b * longest * dimension, inputs.get(b).length, dimension);
                    if (source.normalize()) {
                        Pooling.normalize(v);
                    }
                    out[b] = v;
                }
                return out;
            }
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    /** Upper bound on token ids this model accepts (for validating token-id input). */
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            LOG.warn("embedding model: closing the session failed", e);
        }
        tokenizer.close();
        spanTokenizer.close();
    }
}
