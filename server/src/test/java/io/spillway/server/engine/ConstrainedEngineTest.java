package io.spillway.server.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.checkpoint.ModelConfig;
import io.spillway.models.grammar.CompiledGrammar;
import io.spillway.models.grammar.Grammar;
import io.spillway.models.grammar.Vocabulary;
import io.spillway.models.kv.KvCacheSpec;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.sampling.SamplingParams;
import io.spillway.models.testing.StoriesReference;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Constrained requests on the real stories260K model: whatever the batch around them, however
 * their prompts are prefilled, whether they are preempted or forked into n samples, their output
 * follows the grammar to a complete document and stays the same for the same seed.
 */
class ConstrainedEngineTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int EOS = 2;
    private static final String SCHEMA = """
            {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 999},
              "b": {"enum": ["x", "yy", "zzz"]}, "c": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3}},
             "required": ["a", "b"], "additionalProperties": false}""";

    private static ModelLoadOptions options;
    private static ModelConfig modelConfig;
    private static int[] prompt;
    /**
     * The model's 512 ids given bytes in the shape of its Llama 2 tokenizer: 0–2 special, 3–258
     * one byte each, the rest pieces of two or three characters, so tokens span JSON symbols.
     */
    private static List<byte[]> pieces;
    private static CompiledGrammar grammar;

    @BeforeAll
    static void load() throws Exception {
        StoriesReference ref = StoriesReference.load();
        options = ModelLoadOptions.of(ref.directory(), ComputeTarget.cpuFloat32());
        modelConfig = ModelConfig.load(ref.directory().resolve("config.json"));
        prompt = ref.prompts().get(1);
        pieces = new ArrayList<>();
        pieces.add("<unk>".getBytes(StandardCharsets.UTF_8));
        pieces.add("<s>".getBytes(StandardCharsets.UTF_8));
        pieces.add("</s>".getBytes(StandardCharsets.UTF_8));
        for (int b = 0; b < 256; b++) {
            pieces.add(new byte[] {(byte) b});
        }
        String[] symbols = {"{", "}", "\"", ":", ",", "[", "]", " ", "a", "b", "c", "x", "y", "z", "1", "2", "0", "9", "tr", "ue", "fa", "lse"};
        Random r = new Random(5);
        while (pieces.size() < 512) {
            StringBuilder piece = new StringBuilder();
            for (int k = 2 + r.nextInt(2); k > 0; k--) {
                piece.append(symbols[r.nextInt(symbols.length)]);
            }
            pieces.add(piece.toString().getBytes(StandardCharsets.UTF_8));
        }
        Vocabulary vocabulary = Vocabulary.of(pieces, Set.of(0, 1, 2), 512, Set.of(EOS));
        grammar = CompiledGrammar.compile(Grammar.json(JSON.readTree(SCHEMA)), vocabulary);
    }

    private static EngineConfig config() {
        return EngineConfig.defaults(false).withKvCacheBytes(64L << 20);
    }

    private static Engine start(EngineConfig config) {
        return Engine.start(options, config, new PrometheusRegistry());
    }

    private static RequestStream.CompletedRequest run(Engine engine, String id, SamplingParams p) throws Exception {
        return engine.submit(new EngineRequest(id, prompt, p, "", 0, Optional.of(grammar))).collect().get(120, TimeUnit.SECONDS);
    }

    /** Checks one sample is a complete, valid document, and returns it. */
    private static String document(RequestStream.CompletedRequest r, int choice) throws Exception {
        RequestStream.CompletedRequest.Choice c = r.choices().get(choice);
        assertEquals(FinishReason.STOP, c.finishReason(), "ended with the document");
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        for (int t : c.tokenIds()) {
            if (t != EOS) {
                text.writeBytes(pieces.get(t));
            }
        }
        String doc = text.toString(StandardCharsets.UTF_8);
        JsonNode n = JSON.readTree(doc);
        assertTrue(n.path("a").isInt() && n.path("a").asInt() >= 0 && n.path("a").asInt() <= 999, doc);
        assertTrue(Set.of("x", "yy", "zzz").contains(n.path("b").asText()), doc);
        assertTrue(!n.has("c") || (n.path("c").isArray() && n.path("c").size() <= 3), doc);
        n.path("c").forEach(item -> assertTrue(item.isBoolean(), doc));
        n.fieldNames().forEachRemaining(f -> assertTrue(Set.of("a", "b", "c").contains(f), doc));
        return doc;
    }

    private static SamplingParams seeded(int n) {
        return SamplingParams.builder().n(n).temperature(1.0).topP(0.95).maxTokens(300).seed(42L).build();
    }

    @Test
    void greedyAndSampledAnswersAreValidDocuments() throws Exception {
        try (Engine engine = start(config())) {
            document(run(engine, "greedy", SamplingParams.builder().temperature(0).maxTokens(300).build()), 0);
            for (int seed = 0; seed < 6; seed++) {
                document(run(engine, "s" + seed, SamplingParams.builder().temperature(1.3).maxTokens(300).seed((long) seed)
                        .repetitionPenalty(1.2).minTokens(3).build()), 0);
            }
        }
    }

    @Test
    void theSameSeedGivesTheSameDocumentAloneBatchedChunkedPreemptedAndForked() throws Exception {
        int[] alone;
        try (Engine engine = start(config())) {
            RequestStream.CompletedRequest r = run(engine, "alone", seeded(1));
            document(r, 0);
            alone = r.choices().get(0).tokenIds();
        }
        long perBlock = KvCacheSpec.bytesPerBlock(modelConfig, 16, ai.djl.ndarray.types.DataType.FLOAT32);
        List<EngineConfig> compositions = List.of(config(), config().withMaxPrefillChunk(3), config().withKvCacheBytes(9 * perBlock));
        for (int k = 0; k < compositions.size(); k++) {
            try (Engine engine = start(compositions.get(k))) {
                Random random = new Random(k);
                List<CompletableFuture<RequestStream.CompletedRequest>> others = new ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    Optional<CompiledGrammar> g = i % 2 == 0 ? Optional.empty() : Optional.of(grammar);
                    SamplingParams p = SamplingParams.builder().temperature(1.0).maxTokens(g.isEmpty() ? 20 + random.nextInt(30) : 300)
                            .ignoreEos(true).build();
                    others.add(engine.submit(new EngineRequest("o" + i, random.ints(1 + random.nextInt(30), 3, 512).toArray(), p, "", 0, g))
                            .collect());
                }
                RequestStream.CompletedRequest batched = run(engine, "seeded", seeded(1));
                assertArrayEquals(alone, batched.choices().get(0).tokenIds(), "composition " + k);
                for (int i = 0; i < others.size(); i++) {
                    RequestStream.CompletedRequest o = others.get(i).get(120, TimeUnit.SECONDS);
                    if (i % 2 == 1) {
                        document(o, 0);
                    }
                }
                if (k == 2) {
                    assertTrue(engine.stats().preemptions() > 0, "the cache was small enough to force preemption");
                }
            }
        }
        try (Engine engine = start(config())) {
            RequestStream.CompletedRequest a = run(engine, "n-a", seeded(3));
            RequestStream.CompletedRequest b = run(engine, "n-b", seeded(3));
            for (int i = 0; i < 3; i++) {
                document(a, i);
                assertArrayEquals(a.choices().get(i).tokenIds(), b.choices().get(i).tokenIds(), "sample " + i + " reproducible");
            }
        }
    }
}
