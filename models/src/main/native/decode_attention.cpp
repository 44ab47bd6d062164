// decode_attention: one layer's attention for one-query (decode) sequences over the paged cache,
// through the slots each sequence's context occupies. libtorch needs an index_select that copies
// every key and value, two batched matmuls and a softmax for it, each a parallel region of its own;
// this reads each key and value once, straight from the cache, in one region on libtorch's threads.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "stable_abi.h"

namespace spillway {
namespace {

// e^x in place over scores already shifted by their maximum (x <= 0, or -inf where masked): at
// -inf exactly 0, so a masked key weighs nothing; NaN stays NaN, as in libtorch's softmax.
SPILLWAY_CLONES
void exp_in_place(float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) x[i] = exp_approx(x[i]);
}

// Issues prefetches for the `bytes` at `p`, one per cache line: the slots a context lists are
// scattered over the cache, so the hardware's stream prefetchers cannot see the next one coming.
inline void prefetch(const float* p, int64_t bytes) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(c + offset);
}

// How far ahead of the position being read its successors' keys or values are prefetched.
constexpr int64_t PREFETCH_AHEAD = 4;
// The most context positions a share attends: its scores (heads x positions floats) stay small.
constexpr int64_t MAX_CHUNK = 4096;

// One share of a call: a chunk [from, to) of one sequence's context positions, for every query head.
// Its result is unnormalized, per query head: the scores' maximum, the sum of exp(score - maximum),
// and the values weighted by those exponentials, which combine() merges across a sequence's chunks.
struct ChunkResult {
  float* maxima;   // [heads]
  float* sums;     // [heads]
  float* weighted; // [heads, headDim]
};

SPILLWAY_CLONES
void attend_chunk(const float* cache, int64_t kv_heads, int64_t group, int64_t head_dim, const float* q, int64_t q_head_stride,
                  const int64_t* slots, const float* mask, int64_t from, int64_t to, float* scores, ChunkResult result) {
  int64_t heads = kv_heads * group;
  int64_t length = to - from;
  int64_t half = kv_heads * head_dim;  // a slot holds its keys' heads, then its values'
  int64_t row_bytes = half * static_cast<int64_t>(sizeof(float));
  for (int64_t j = from; j < to; j++) {
    if (j + PREFETCH_AHEAD < to) prefetch(cache + slots[j + PREFETCH_AHEAD] * 2 * half, row_bytes);
    float m = mask == nullptr ? 0.0f : mask[j];
    if (m == -INFINITY) {
      for (int64_t h = 0; h < heads; h++) scores[h * length + (j - from)] = -INFINITY;
      continue;
    }
    const float* keys = cache + slots[j] * 2 * half;
    for (int64_t kv = 0; kv < kv_heads; kv++) {
      const float* k = keys + kv * head_dim;
      for (int64_t g = 0; g < group; g++) {
        int64_t h = kv * group + g;
        const float* qh = q + h * q_head_stride;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t d = 0; d < head_dim; d++) dot += qh[d] * k[d];
        scores[h * length + (j - from)] = dot + m;
      }
    }
  }
  for (int64_t h = 0; h < heads; h++) {
    float* s = scores + h * length;
    // A NaN score makes the maximum NaN, and so every weight of the head NaN, as libtorch's softmax.
    float max = -INFINITY;
    for (int64_t j = 0; j < length; j++) max = s[j] > max || s[j] != s[j] ? s[j] : max;
    if (max != max) {
      for (int64_t j = 0; j < length; j++) s[j] = max;
    }
    result.maxima[h] = max;
    if (max == -INFINITY) {
      // Every key of this chunk is masked: it weighs nothing (its sum is 0), whatever its maximum.
      for (int64_t j = 0; j < length; j++) s[j] = 0.0f;
    } else {
      for (int64_t j = 0; j < length; j++) s[j] -= max;
      exp_in_place(s, length);
    }
    float sum = 0;
    for (int64_t j = 0; j < length; j++) sum += s[j];
    result.sums[h] = sum;
  }
  std::memset(result.weighted, 0, heads * head_dim * sizeof(float));
  for (int64_t j = from; j < to; j++) {
    if (j + PREFETCH_AHEAD < to) prefetch(cache + slots[j + PREFETCH_AHEAD] * 2 * half + half, row_bytes);
    // A masked key weighs exactly 0; skipping its value also keeps whatever a row past the context
    // holds (NaN, after an overflow in a block's previous owner) out of the sum.
    if (mask != nullptr && mask[j] == -INFINITY) continue;
    const float* values = cache + slots[j] * 2 * half + half;
    for (int64_t kv = 0; kv < kv_heads; kv++) {
      const float* v = values + kv * head_dim;
      for (int64_t g = 0; g < group; g++) {
        int64_t h = kv * group + g;
        float p = scores[h * length + (j - from)];
        float* o = result.weighted + h * head_dim;
#pragma omp simd
        for (int64_t d = 0; d < head_dim; d++) o[d] += p * v[d];
      }
    }
  }
}

// One call's work: each sequence's context in `chunks` chunks, every (sequence, chunk) a share; the
// shares are spread over the threads, then each sequence's chunks are merged (combine).
struct DecodeAttention {
  const float* cache;
  const float* queries;
  int64_t q_sequence_stride;
  int64_t q_head_stride;
  const int64_t* slots;
  const float* masks;
  int64_t b, kv_heads, group, head_dim, length, chunks;
  float* out;
  std::vector<float> scores;   // per thread: heads * the longest chunk
  std::vector<float> partials; // per share: maxima, sums, weighted values
  int threads;

  int64_t heads() const { return kv_heads * group; }
  int64_t chunk_length() const { return (length + chunks - 1) / chunks; }
  int64_t partial_floats() const { return heads() * (2 + head_dim); }

  ChunkResult partial(int64_t share) {
    float* base = partials.data() + share * partial_floats();
    return ChunkResult{base, base + heads(), base + 2 * heads()};
  }

  void run(int thread, int team) {
    int64_t shares = b * chunks;
    int64_t per_thread = (shares + team - 1) / team;
    float* own_scores = scores.data() + static_cast<int64_t>(thread) * heads() * chunk_length();
    for (int64_t share = thread * per_thread; share < std::min(shares, (thread + 1) * per_thread); share++) {
      int64_t s = share / chunks;
      int64_t from = (share % chunks) * chunk_length();
      int64_t to = std::min(length, from + chunk_length());
      attend_chunk(cache, kv_heads, group, head_dim, queries + s * q_sequence_stride, q_head_stride, slots + s * length,
                   masks == nullptr ? nullptr : masks + s * length, from, std::max(from, to), own_scores, partial(share));
    }
  }

  // softmax(scores) · values per sequence and query head, from its chunks' maxima, sums and weighted values.
  void combine() {
    for (int64_t s = 0; s < b; s++) {
      for (int64_t h = 0; h < heads(); h++) {
        float max = -INFINITY;
        for (int64_t c = 0; c < chunks; c++) max = std::max(max, partial(s * chunks + c).maxima[h]);
        float* o = out + (s * heads() + h) * head_dim;
        std::memset(o, 0, head_dim * sizeof(float));
        float sum = 0;
        for (int64_t c = 0; c < chunks; c++) {
          ChunkResult r = partial(s * chunks + c);
          if (r.sums[h] == 0.0f) continue;
          float scale = std::exp(r.maxima[h] - max);
          sum += r.sums[h] * scale;
          for (int64_t d = 0; d < head_dim; d++) o[d] += r.weighted[h * head_dim + d] * scale;
        }
        float inverse = 1.0f / sum;
        for (int64_t d = 0; d < head_dim; d++) o[d] *= inverse;
      }
    }
  }
};

}  // namespace

// decode_attention(Tensor cache, Tensor q, Tensor context_slots, Tensor mask, int group) -> Tensor
//   cache: float32 [slots, 2, kvHeads, headDim], one layer's (a slot holds its keys' heads, then its values')
//   q: float32 [b, kvHeads * group, headDim], the last axis dense (the attention scale folded in at load)
//   context_slots: int64 [b * length], the cache slot of each sequence's every context position
//   mask: float32 [b, 1, 1, length], additive (0 or -inf), or empty where every position is visible
// Returns float32 [b, kvHeads * group * headDim].
void decode_attention(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("decode_attention");
  TensorArgument cache(stack[0]), q(stack[1]), context_slots(stack[2]), mask(stack[3]);
  int64_t group = static_cast<int64_t>(stack[4]);
  checks.require(cache.dtype() == FLOAT32 && q.dtype() == FLOAT32, "the cache and queries must be float32");
  checks.require(cache.device_type() == CPU && q.device_type() == CPU && context_slots.device_type() == CPU && mask.device_type() == CPU,
          "every tensor must be on the CPU");
  checks.require(cache.dim() == 4 && cache.size(1) == 2, "the cache must be [slots, 2, kvHeads, headDim]");
  int64_t cache_slots = cache.size(0);
  int64_t kv_heads = cache.size(2);
  int64_t head_dim = cache.size(3);
  checks.require(cache.stride(3) == 1 && cache.stride(2) == head_dim && cache.stride(1) == kv_heads * head_dim
              && cache.stride(0) == 2 * kv_heads * head_dim, "the cache must be dense");
  checks.require(group > 0, "group must be positive");
  checks.require(q.dim() == 3 && q.size(1) == kv_heads * group && q.size(2) == head_dim && q.stride(2) == 1,
          "q must be [b, kvHeads * group, headDim], its last axis dense");
  int64_t b = q.size(0);
  checks.require(context_slots.dtype() == INT64 && context_slots.dim() == 1 && context_slots.stride(0) == 1, "context_slots must be dense int64");
  int64_t positions = context_slots.size(0);
  checks.require(b > 0 && positions > 0 && positions % b == 0, "context_slots is not [b * length]");
  int64_t length = positions / b;
  bool masked = mask.numel() > 0;
  checks.require(!masked || (mask.dtype() == FLOAT32 && mask.dim() == 4 && mask.size(0) == b && mask.size(1) == 1 && mask.size(2) == 1
                      && mask.size(3) == length && mask.stride(3) == 1 && mask.stride(0) == length),
          "the mask must be a dense float32 [b, 1, 1, length]");
  const int64_t* slots = context_slots.data<int64_t>();
  for (int64_t i = 0; i < positions; i++) checks.require(slots[i] >= 0 && slots[i] < cache_slots, "a context slot lies outside the cache");

  DecodeAttention work{cache.data<float>(), q.data<float>(), q.stride(0), q.stride(1), slots, masked ? mask.data<float>() : nullptr,
                       b, kv_heads, group, head_dim, length, 1, nullptr, {}, {}, 1};
  // With fewer sequences than twice the threads, each sequence's context is split into chunks (of
  // 64 positions at least) so that every thread has some; and chunks hold 4,096 positions at most,
  // which bounds each thread's scores.
  work.threads = threads_for(b * kv_heads * length * group * head_dim);
  int64_t wanted = work.threads > 1 ? (2 * work.threads + b - 1) / b : 1;
  work.chunks = std::max<int64_t>({1, std::min(wanted, length / 64), (length + MAX_CHUNK - 1) / MAX_CHUNK});
  bool parallel = work.threads > 1 && b * work.chunks > 1;
  work.scores.resize(static_cast<size_t>(work.threads * work.heads() * work.chunk_length()));
  work.partials.resize(static_cast<size_t>(b * work.chunks * work.partial_floats()));
  // Allocated last: nothing can throw between here and its handing over.
  AtenTensorHandle result = new_matrix(checks, b, kv_heads * group * head_dim, &work.out);
  run_on_threads(work, parallel);
  work.combine();
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
