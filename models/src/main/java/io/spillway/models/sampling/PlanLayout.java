package io.spillway.models.sampling;

/**
 * The sizes of a {@link SamplePlan}'s sections, in the order the plan tensor holds them, and the
 * few numbers the sampler script needs to know before it looks at a tensor. Passed to the script as
 * a tuple of these components (checked at load by {@link SamplerScript}).
 *
 * @param samples           draws, the rows of the per-sample table
 * @param greedy            draws that take the argmax
 * @param raced             draws raced over the whole vocabulary (no top_k, no top_p)
 * @param truncated         draws with a top_k, raced among its candidates (and top_p's share of them)
 * @param nucleus           draws with top_p and no top_k, raced over the vocabulary and checked against the nucleus
 * @param logprobSamples    draws that asked for log-probabilities
 * @param topLogprobs       top log-probabilities asked for, summed over those draws
 * @param mostTopLogprobs   the most any one draw asked for
 * @param biases            logit bias entries
 * @param masks             tokens masked by min_tokens
 * @param repetitions       tokens the repetition penalty scales
 * @param penalties         tokens frequency/presence penalties lower
 * @param grammarSamples    draws constrained by a grammar (each brings a bitmask of the vocabulary)
 * @param minPSamples       draws with a min_p (the script skips its masking without one)
 * @param firstCandidates   how many candidates the truncated draws start with
 * @param largestCandidates how many they may grow to
 * @param nucleusTries      how many whole-vocabulary draws a nucleus draw checks against its
 *                          nucleus before it falls back to growing a candidate list
 * @param raceGroup         consecutive ids the first level of a whole-vocabulary race groups
 * @param raceRows          rows the script races at once
 * @param inPlace           1 when draw i reads logits row i for every i: the script edits the
 *                          logits themselves instead of a gathered copy
 */
public record PlanLayout(int samples, int greedy, int raced, int truncated, int nucleus, int logprobSamples, int topLogprobs,
                         int mostTopLogprobs, int biases, int masks, int repetitions, int penalties, int grammarSamples,
                         int minPSamples, int firstCandidates, int largestCandidates, int nucleusTries, int raceGroup, int raceRows,
                         int inPlace) {
}
