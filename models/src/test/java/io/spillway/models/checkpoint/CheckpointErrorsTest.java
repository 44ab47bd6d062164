package io.spillway.models.checkpoint;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.spillway.models.LoadedModel;
import io.spillway.models.ModelLoadOptions;
import io.spillway.models.arch.Quantization;
import io.spillway.models.runtime.ComputeTarget;
import io.spillway.models.testing.TinyCheckpoint;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Every way a checkpoint can be wrong ends in one clear error that names the file or tensor. */
class CheckpointErrorsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    private static String failure(Executable load) {
        return assertThrows(RuntimeException.class, load).getMessage();
    }

    private static void load(Path dir) {
        try (LoadedModel m = LoadedModel.load(ModelLoadOptions.of(dir, ComputeTarget.cpuFloat32()))) {
            m.name();
        }
    }

    private static void assertMentions(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "error message should mention '" + p + "': " + message);
        }
    }

    @Test
    void missingDirectoryAndMissingConfig() throws IOException {
        assertMentions(failure(() -> load(temp.resolve("nope"))), "nope", "does not exist");
        Path empty = Files.createDirectories(temp.resolve("empty"));
        assertMentions(failure(() -> load(empty)), "config.json", "empty");
    }

    @Test
    void missingWeights() throws IOException {
        Path dir = TinyCheckpoint.llama().writeTo(temp.resolve("m"));
        Files.delete(dir.resolve("model.safetensors"));
        assertMentions(failure(() -> load(dir)), "no weights", "model.safetensors", "dummy");
    }

    @Test
    void unsupportedArchitectureListsTheSupportedOnes() throws IOException {
        Path dir = TinyCheckpoint.llama().architecture("GPT2LMHeadModel").writeToConfigOnly(temp.resolve("gpt2"));
        assertMentions(failure(() -> load(dir)), "GPT2LMHeadModel", "LlamaForCausalLM", "Qwen3ForCausalLM", "config.json");
    }

    @Test
    void truncatedSafetensorsNamesTheFileAndTensor() throws IOException {
        Path dir = TinyCheckpoint.llama().writeTo(temp.resolve("m"));
        Path file = dir.resolve("model.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() - 1000);
        }
        assertMentions(failure(() -> load(dir)), "truncated", "model.safetensors", "lm_head.weight");
    }

    @Test
    void garbageFileIsNotLoadedAsWeights() throws IOException {
        Path dir = TinyCheckpoint.llama().writeTo(temp.resolve("m"));
        Files.writeString(dir.resolve("model.safetensors"), "<html>not a checkpoint</html>");
        assertMentions(failure(() -> load(dir)), "model.safetensors", "not a valid safetensors");
    }

    @Test
    void shapeMismatchNamesTensorAndBothShapes() throws IOException {
        Path dir = TinyCheckpoint.llama().writeTo(temp.resolve("m"));
        ObjectNode config = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
        config.put("intermediate_size", 128);
        Files.writeString(dir.resolve("config.json"), config.toString());
        assertMentions(failure(() -> load(dir)), "model.layers.0.mlp.gate_proj.weight", "[112, 64]", "[128, 64]");
    }

    @Test
    void missingLmHeadOfAnUntiedModel() throws IOException {
        Path dir = TinyCheckpoint.llama().set("tie_word_embeddings", true).writeTo(temp.resolve("m"));
        ObjectNode config = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
        config.put("tie_word_embeddings", false);
        Files.writeString(dir.resolve("config.json"), config.toString());
        assertMentions(failure(() -> load(dir)), "lm_head.weight", "missing", "tie_word_embeddings");
    }

    @Test
    void unsupportedDtypeNamesTensorAndDtype() throws IOException {
        Path dir = TinyCheckpoint.llama().writeTo(temp.resolve("m"));
        // Rewrite the header so the embedding claims to be int8 (same byte count as a quarter of F32 data).
        Path file = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
        String patched = header.replaceFirst("\"model.embed_tokens.weight\":\\{\"dtype\":\"F32\"", "\"model.embed_tokens.weight\":{\"dtype\":\"I8\" ");
        assertTrue(!patched.equals(header) && patched.length() == header.length(), "test setup: header patched in place");
        System.arraycopy(patched.getBytes(StandardCharsets.UTF_8), 0, bytes, 8, (int) headerLength);
        Files.write(file, bytes);
        assertMentions(failure(() -> load(dir)), "model.embed_tokens.weight", "I8", "F32, F16, BF16");
    }

    @Test
    void missingShardListedInTheIndex() throws IOException {
        Path dir = TinyCheckpoint.llama().shards(2).writeTo(temp.resolve("m"));
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        assertMentions(failure(() -> load(dir)), "missing shard", "model-00002-of-00002.safetensors", "model.safetensors.index.json");
    }

    /** fbgemm's int8 kernel takes float32: a bfloat16 model with int8 layers is refused by name, not cast around. */
    @Test
    void int8WithBfloat16IsRefusedNamingBoth() throws IOException {
        Path dir = TinyCheckpoint.llama().writeTo(temp.resolve("m"));
        ComputeTarget bf16 = ComputeTarget.resolve("cpu", "bfloat16");
        String message = failure(() -> LoadedModel.load(ModelLoadOptions.of(dir, bf16).withQuantization(Quantization.INT8)).close());
        assertMentions(message, "int8", "bfloat16", "float32");
    }

    @Test
    void anUnknownDtypeListsTheOnesThereAre() {
        assertMentions(failure(() -> ComputeTarget.resolve("cpu", "bfloat8")), "bfloat8", "float32", "float16", "bfloat16");
    }
}
