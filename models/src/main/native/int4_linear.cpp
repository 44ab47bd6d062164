// int4_linear: y = x W^T for an int4 projection of a float32 model on the CPU, W in groups along its
// inputs (w = q * scale + offset, q in 0..15, per group and output). libtorch's CPU kernel takes
// bfloat16 activations, which costs a cast each way around every projection, and multiplies in
// float; this takes the products in integers, 64 per instruction with AVX-512 VNNI's vpdpbusd.
// Each 32 inputs of a row are quantized to int8 twice over (one scale each): the values, then what
// their rounding left, on a 254 times finer step. One int8 alone (llama.cpp's Q8_0 activations)
// moved a small model's logits 4-7 times as far from the dequantized float model's as bfloat16's
// rounding does; with the residual each input's error is at most a 64,516th of its block's largest
// magnitude, finer than bfloat16's rounding of every input within 126 times that largest one, for a
// second vpdpbusd per weight, which a batch-1 step (bound by reading the weights) barely feels.
//
// The weight's layout is Spillway's (the decoder script's Int4Packer writes it): [out / 16, in / 8,
// 16, 4] bytes, byte (o / 16, i / 8, o % 16, i % 4) holding input i's value in its low nibble and
// input i + 4's in its high one (for i % 8 < 4). So one 64-byte load gives, for 16 outputs, the
// values of 8 consecutive inputs, four to a 32-bit lane as vpdpbusd pairs them with four bytes of x.

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "stable_abi.h"

namespace spillway {
namespace {

// Inputs per activation scale.
constexpr int64_t BLOCK = 32;
// Rows multiplied together against each 64 bytes of weights loaded.
constexpr int ROW_TILE = 4;

// Steps between the coarse quantization's and the residual's.
constexpr float RESIDUAL_STEPS = 254.0f;

// A call's rows quantized: x[r, i] ~ (coarse[r, i] + fine[r, i] / 254) * scales[r, i / BLOCK];
// sums holds each row's exact sum over each weight group, for the groups' offsets.
struct QuantizedRows {
  std::vector<int8_t> coarse;
  std::vector<int8_t> fine;
  std::vector<float> scales;
  std::vector<float> sums;
};

SPILLWAY_CLONES
void quantize_row(const float* x, int64_t inputs, int64_t group, int8_t* coarse, int8_t* fine, float* scales, float* sums) {
  for (int64_t b = 0; b < inputs / BLOCK; b++) {
    const float* block = x + b * BLOCK;
    float largest = 0;
    for (int64_t i = 0; i < BLOCK; i++) largest = std::max(largest, std::fabs(block[i]));
    // NaN or infinity anywhere in the block makes its scale NaN, so every output it reaches is NaN
    // (where a float matmul gives NaN or an infinity) instead of being quantized away.
    bool finite = true;
    for (int64_t i = 0; i < BLOCK; i++) finite = finite && std::isfinite(block[i]);
    // A block of magnitudes under about 127 / FLT_MAX would overflow the inverse: it counts as zeros.
    float inverse = largest > 0 ? 127.0f / largest : 0.0f;
    if (!(inverse <= 3.0e38f)) inverse = 0.0f;
    float step = inverse > 0 ? largest / 127.0f : 0.0f;
    scales[b] = finite ? step : NAN;
    for (int64_t i = 0; i < BLOCK; i++) {
      float q = finite ? __builtin_nearbyintf(block[i] * inverse) : 0.0f;
      // What rounding left is within half a step: on a 254 times finer one it spans [-127, 127].
      float residual = finite ? __builtin_nearbyintf((block[i] - q * step) * inverse * RESIDUAL_STEPS) : 0.0f;
      coarse[b * BLOCK + i] = static_cast<int8_t>(q);
      fine[b * BLOCK + i] = static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, residual)));
    }
  }
  for (int64_t g = 0; g < inputs / group; g++) {
    float sum = 0;
    for (int64_t i = 0; i < group; i++) sum += x[g * group + i];
    sums[g] = sum;
  }
}

// Four int8 activations, repeated in every 32-bit lane: what vpdpbusd pairs with each output's four weights.
__attribute__((target("avx512f"))) inline __m512i broadcast4(const int8_t* x) {
  int32_t four;
  std::memcpy(&four, x, 4);
  return _mm512_set1_epi32(four);
}

struct Int4Linear {
  const float* x;
  int64_t rows, inputs, outputs, group;
  const uint8_t* weight;
  const float* scales;   // [groups, outputs]
  const float* offsets;  // [groups, outputs]
  QuantizedRows quantized;
  float* out;
  int threads;

  int64_t groups() const { return inputs / group; }

  // Rows [first, first + R) of output block `block` (16 outputs): per group, the int32 sums of
  // each BLOCK's products with the coarse and the fine activations, scaled by the block's
  // activation scale, then by the group's weight scales, plus the group's offsets times the row's
  // sum over the group.
  template <int R>
  __attribute__((target("avx512f,avx512bw,avx512vnni"))) void multiply(int64_t block, int64_t first) const {
    const uint8_t* w = weight + block * (inputs / 8) * 64;
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
    const int64_t blocks_per_group = group / BLOCK;
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups(); g++) {
      __m512 in_group[R];
      for (int r = 0; r < R; r++) in_group[r] = _mm512_setzero_ps();
      for (int64_t b = g * blocks_per_group; b < (g + 1) * blocks_per_group; b++) {
        __m512i coarse[R], fine[R];
        for (int r = 0; r < R; r++) coarse[r] = fine[r] = _mm512_setzero_si512();
        for (int64_t octet = 0; octet < BLOCK / 8; octet++) {
          __m512i packed = _mm512_loadu_si512(w + (b * (BLOCK / 8) + octet) * 64);
          __m512i first_four = _mm512_and_si512(packed, low_nibbles);
          __m512i last_four = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low_nibbles);
          for (int r = 0; r < R; r++) {
            int64_t at = (first + r) * inputs + b * BLOCK + octet * 8;
            coarse[r] = _mm512_dpbusd_epi32(coarse[r], first_four, broadcast4(quantized.coarse.data() + at));
            coarse[r] = _mm512_dpbusd_epi32(coarse[r], last_four, broadcast4(quantized.coarse.data() + at + 4));
            fine[r] = _mm512_dpbusd_epi32(fine[r], first_four, broadcast4(quantized.fine.data() + at));
            fine[r] = _mm512_dpbusd_epi32(fine[r], last_four, broadcast4(quantized.fine.data() + at + 4));
          }
        }
        for (int r = 0; r < R; r++) {
          // The zero-masked form: GCC 12 warns of its own header's undefined merge source in the plain one.
          __m512 products = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, fine[r]), _mm512_set1_ps(1.0f / RESIDUAL_STEPS),
                                            _mm512_maskz_cvtepi32_ps(0xFFFF, coarse[r]));
          in_group[r] = _mm512_fmadd_ps(products, _mm512_set1_ps(quantized.scales[(first + r) * (inputs / BLOCK) + b]), in_group[r]);
        }
      }
      __m512 scale = _mm512_loadu_ps(scales + g * outputs + block * 16);
      __m512 offset = _mm512_loadu_ps(offsets + g * outputs + block * 16);
      for (int r = 0; r < R; r++) {
        acc[r] = _mm512_fmadd_ps(in_group[r], scale, acc[r]);
        acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(quantized.sums[(first + r) * groups() + g]), offset, acc[r]);
      }
    }
    for (int r = 0; r < R; r++) _mm512_storeu_ps(out + (first + r) * outputs + block * 16, acc[r]);
  }

  // Output blocks [from, to), every row: the block's weights (8 bytes an input) stay close, in the
  // first level cache for a few thousand inputs, while the rows pass over them, ROW_TILE at a time.
  void run_blocks(int64_t from, int64_t to) const {
    for (int64_t block = from; block < to; block++) {
      int64_t r = 0;
      for (; r + ROW_TILE <= rows; r += ROW_TILE) multiply<ROW_TILE>(block, r);
      switch (rows - r) {
        case 3: multiply<3>(block, r); break;
        case 2: multiply<2>(block, r); break;
        case 1: multiply<1>(block, r); break;
        default: break;
      }
    }
  }

  void run(int thread, int team) const {
    int64_t blocks = outputs / 16;
    int64_t per_thread = (blocks + team - 1) / team;
    run_blocks(std::min(blocks, thread * per_thread), std::min(blocks, (thread + 1) * per_thread));
  }
};

}  // namespace

bool int4_linear_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  }();
  return supported;
}

// int4_linear(Tensor x, Tensor weight, Tensor scale_offsets) -> Tensor
//   x: float32 [rows, in], dense
//   weight: uint8 [out / 16, in / 8, 16, 4], Spillway's layout (above)
//   scale_offsets: float32 [2, groups, out], the scales then the offsets; in / groups, the group
//     size, a multiple of 32
// Returns float32 [rows, out].
void int4_linear(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("int4_linear");
  TensorArgument x(stack[0]), weight(stack[1]), scale_offsets(stack[2]);
  checks.require(int4_linear_supported(), "this CPU has no AVX-512 VNNI");
  checks.require(x.device_type() == CPU && weight.device_type() == CPU && scale_offsets.device_type() == CPU,
                 "every tensor must be on the CPU");
  checks.require(x.dtype() == FLOAT32 && x.dim() == 2 && x.contiguous(), "x must be a dense float32 [rows, in]");
  int64_t rows = x.size(0);
  int64_t inputs = x.size(1);
  checks.require(inputs > 0, "x has no inputs");
  checks.require(weight.dtype() == UINT8 && weight.dim() == 4 && weight.size(1) * 8 == inputs && weight.size(2) == 16
                     && weight.size(3) == 4 && weight.contiguous(),
                 "the weight must be a dense uint8 [out / 16, in / 8, 16, 4]");
  int64_t outputs = weight.size(0) * 16;
  checks.require(scale_offsets.dtype() == FLOAT32 && scale_offsets.dim() == 3 && scale_offsets.size(0) == 2
                     && scale_offsets.size(2) == outputs && scale_offsets.contiguous(),
                 "scale_offsets must be a dense float32 [2, groups, out]");
  int64_t groups = scale_offsets.size(1);
  checks.require(groups > 0 && inputs % groups == 0 && (inputs / groups) % BLOCK == 0, "the group size must be a multiple of 32");

  Int4Linear work{x.data<float>(), rows, inputs, outputs, inputs / groups, weight.data<uint8_t>(), scale_offsets.data<float>(),
                  scale_offsets.data<float>() + groups * outputs, {}, nullptr, 1};
  work.quantized.coarse.resize(static_cast<size_t>(rows * inputs));
  work.quantized.fine.resize(static_cast<size_t>(rows * inputs));
  work.quantized.scales.resize(static_cast<size_t>(rows * (inputs / BLOCK)));
  work.quantized.sums.resize(static_cast<size_t>(rows * groups));
  for (int64_t r = 0; r < rows; r++) {
    quantize_row(work.x + r * inputs, inputs, work.group, work.quantized.coarse.data() + r * inputs, work.quantized.fine.data() + r * inputs,
                 work.quantized.scales.data() + r * (inputs / BLOCK), work.quantized.sums.data() + r * groups);
  }
  work.threads = threads_for(rows * inputs * outputs);
  bool parallel = work.threads > 1 && outputs > 16;
  AtenTensorHandle result = new_matrix(checks, rows, outputs, &work.out);
  if (rows > 0) run_on_threads(work, parallel);
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
