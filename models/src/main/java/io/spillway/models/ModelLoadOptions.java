package io.spillway.models;

import io.spillway.models.arch.QuantizedKernels;
import io.spillway.models.arch.ProjectionLayout;
import io.spillway.models.attention.AttentionChoice;
import io.spillway.models.arch.Quantization;
import io.spillway.models.runtime.ComputeTarget;
import java.nio.file.Path;

/**
 * How to load a model directory.
 *
 * @param directory        a Hugging Face model directory (config.json, weights, tokenizer files)
 * @param format           real weights or random ones
 * @param target           device and dtype
 * @param maxModelLength   longest context to serve, or 0 for the model's max_position_embeddings
 * @param dummySeed        seed of random weights (format DUMMY)
 * @param projectionLayout how float projection weights are laid out: the target's unless a test asks
 *                         for the other (to run a GPU's branch of the decoder on the CPU)
 * @param quantization     which weights are quantized as they load ({@link Quantization#NONE} by default)
 * @param attention        how the serving engine reads the paged KV cache: the target's unless the
 *                         configuration or a test asks for another
 * @param kernels          whose kernels run the quantized projections (an int4 checkpoint's, int8
 *                         on load), each in its own layout: the target's unless a test or
 *                         benchmark asks for the other
 */
public record ModelLoadOptions(Path directory, LoadFormat format, ComputeTarget target, int maxModelLength, long dummySeed,
                               ProjectionLayout projectionLayout, Quantization quantization, AttentionChoice attention,
                               QuantizedKernels kernels) {

    /** With the target's projection layout, attention and quantized kernels, unquantized. */
    public ModelLoadOptions(Path directory, LoadFormat format, ComputeTarget target, int maxModelLength, long dummySeed) {
        this(directory, format, target, maxModelLength, dummySeed, ProjectionLayout.forTarget(target), Quantization.NONE,
                AttentionChoice.forTarget(target), QuantizedKernels.forTarget(target));
    }

    public static ModelLoadOptions of(Path directory, ComputeTarget target) {
        return new ModelLoadOptions(directory, LoadFormat.AUTO, target, 0, 0);
    }

    public ModelLoadOptions withFormat(LoadFormat f) {
        return new ModelLoadOptions(directory, f, target, maxModelLength, dummySeed, projectionLayout, quantization, attention, kernels);
    }

    public ModelLoadOptions withProjectionLayout(ProjectionLayout layout) {
        return new ModelLoadOptions(directory, format, target, maxModelLength, dummySeed, layout, quantization, attention, kernels);
    }

    public ModelLoadOptions withQuantization(Quantization q) {
        return new ModelLoadOptions(directory, format, target, maxModelLength, dummySeed, projectionLayout, q, attention, kernels);
    }

    /** {@code choice}, or the target's when null ({@code auto}). */
    public ModelLoadOptions withAttention(AttentionChoice choice) {
        return new ModelLoadOptions(directory, format, target, maxModelLength, dummySeed, projectionLayout, quantization,
                choice == null ? AttentionChoice.forTarget(target) : choice, kernels);
    }

    public ModelLoadOptions withQuantizedKernels(QuantizedKernels k) {
        return new ModelLoadOptions(directory, format, target, maxModelLength, dummySeed, projectionLayout, quantization, attention, k);
    }
}
