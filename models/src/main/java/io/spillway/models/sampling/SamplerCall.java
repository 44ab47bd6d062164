package io.spillway.models.sampling;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * One call of {@code sampler.torchscript}'s {@code Sampler.forward}: its parameters are these
 * components, in this order ({@link SamplerScript} checks the script's signature against them).
 *
 * @param logits  float32 {@code [rows, vocab]}, on the model's device
 * @param plan    int64, every draw's parameters in the sections {@code layout} sizes ({@link SamplePlan})
 * @param layout  the sections' sizes
 * @param scratch the races' working memory ({@link RaceScratch}), empty when the plan has no raced or nucleus draw
 */
public record SamplerCall(NDArray logits, NDArray plan, PlanLayout layout, List<NDArray> scratch) {
}
