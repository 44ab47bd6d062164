// rotate_and_store: the step between a layer's qkv projection and its attention, for a float32
// model on the CPU. The keys and queries' heads are normalized (where the model has q/k norms) and
// rotated (RoPE), the keys and values written to the layer's paged cache at the step's slots, and
// the rotated queries returned. libtorch takes some fifteen operators for it (narrows, a reshape, a
// concatenation and a multiply-add for the rotation, another concatenation and an index_copy for
// the cache), each dispatched and most allocating, per layer; a decode step's rows are a few
// hundred floats, which take longer to dispatch than to compute.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "stable_abi.h"

namespace spillway {
namespace {

// One head's row: normalized by its root mean square and `norm` where norm is not null, then
// rotated as Hugging Face's rotate-half RoPE does, out[d] = x[d] cos[d] + x[(d + half) % width] sin[d]
// (the sign of rotate_half folded into the sine table).
SPILLWAY_CLONES
void rotate_head(const float* x, const float* norm, float eps, const float* cos, const float* sin, int64_t width, float* scratch,
                 float* out) {
  const float* source = x;
  if (norm != nullptr) {
    normalize_row(x, norm, width, eps, scratch);
    source = scratch;
  }
  int64_t half = width / 2;
#pragma omp simd
  for (int64_t d = 0; d < half; d++) out[d] = source[d] * cos[d] + source[d + half] * sin[d];
#pragma omp simd
  for (int64_t d = half; d < width; d++) out[d] = source[d] * cos[d] + source[d - half] * sin[d];
}

}  // namespace

// rotate_and_store(Tensor qkv, Tensor cos, Tensor sin, Tensor qk_norm, float eps, Tensor(a!) cache,
//                  Tensor write_slots, int heads) -> Tensor
//   qkv: float32 [tokens, (heads + 2 * kvHeads) * headDim], the queries', keys' and values' heads in
//     turn
//   cos, sin: float32 [tokens, 1, headDim], dense, each token's position's (sin signed)
//   qk_norm: float32 [heads + kvHeads, headDim], dense, one weight row per head, or empty for none
//   cache: float32 [slots, 2, kvHeads, headDim], dense, the layer's
//   write_slots: int64 [tokens], the cache slot of each token
// Returns the rotated queries, float32 [tokens, heads, headDim].
void rotate_and_store(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("rotate_and_store");
  TensorArgument qkv(stack[0]), cos(stack[1]), sin(stack[2]), qk_norm(stack[3]), cache(stack[5]), write_slots(stack[6]);
  float eps = static_cast<float>(double_argument(stack[4]));
  int64_t heads = static_cast<int64_t>(stack[7]);
  checks.require(qkv.device_type() == CPU && cos.device_type() == CPU && sin.device_type() == CPU && qk_norm.device_type() == CPU
                     && cache.device_type() == CPU && write_slots.device_type() == CPU,
                 "every tensor must be on the CPU");
  checks.require(cache.dtype() == FLOAT32 && cache.dim() == 4 && cache.size(1) == 2 && cache.contiguous(),
                 "the cache must be a dense float32 [slots, 2, kvHeads, headDim]");
  int64_t slots = cache.size(0);
  int64_t kv_heads = cache.size(2);
  int64_t head_dim = cache.size(3);
  checks.require(heads > 0 && head_dim % 2 == 0, "heads must be positive and headDim even");
  checks.require(qkv.dtype() == FLOAT32 && qkv.dim() == 2 && qkv.size(1) == (heads + 2 * kv_heads) * head_dim,
                 "qkv must be float32 [tokens, (heads + 2 * kvHeads) * headDim]");
  int64_t tokens = qkv.size(0);
  checks.require(cos.dtype() == FLOAT32 && sin.dtype() == FLOAT32 && cos.numel() == tokens * head_dim && sin.numel() == tokens * head_dim
                     && cos.contiguous() && sin.contiguous(),
                 "cos and sin must be dense float32 [tokens, 1, headDim]");
  bool normed = qk_norm.numel() > 0;
  checks.require(!normed || (qk_norm.dtype() == FLOAT32 && qk_norm.numel() == (heads + kv_heads) * head_dim && qk_norm.contiguous()),
                 "qk_norm must be a dense float32 [heads + kvHeads, headDim] or empty");
  checks.require(write_slots.dtype() == INT64 && write_slots.dim() == 1 && write_slots.size(0) == tokens
                     && (tokens <= 1 || write_slots.stride(0) == 1),
                 "write_slots must be a dense int64 [tokens]");
  const int64_t* slot = write_slots.data<int64_t>();
  for (int64_t t = 0; t < tokens; t++) checks.require(slot[t] >= 0 && slot[t] < slots, "a write slot lies outside the cache");

  const float* rows = qkv.data<float>();
  const float* cos_rows = cos.data<float>();
  const float* sin_rows = sin.data<float>();
  const float* norms = normed ? qk_norm.data<float>() : nullptr;
  float* stored = const_cast<float*>(cache.data<float>());
  float scratch[1024];
  checks.require(!normed || head_dim <= 1024, "headDim over 1024 with q/k norms");
  float* q;
  int64_t sizes[3] = {tokens, heads, head_dim};
  AtenTensorHandle result = new_dense(checks, sizes, 3, &q);
  int64_t slot_floats = 2 * kv_heads * head_dim;
  std::vector<float> row_copy;
  for (int64_t t = 0; t < tokens; t++) {
    const float* row = dense_row(rows + t * qkv.stride(0), qkv.stride(1), qkv.size(1), row_copy);
    const float* c = cos_rows + t * head_dim;
    const float* s = sin_rows + t * head_dim;
    float* keys = stored + slot[t] * slot_floats;
    for (int64_t h = 0; h < heads + kv_heads; h++) {
      float* out = h < heads ? q + (t * heads + h) * head_dim : keys + (h - heads) * head_dim;
      rotate_head(row + h * head_dim, normed ? norms + h * head_dim : nullptr, eps, c, s, head_dim, scratch, out);
    }
    std::memcpy(keys + kv_heads * head_dim, row + (heads + kv_heads) * head_dim, kv_heads * head_dim * sizeof(float));
  }
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
