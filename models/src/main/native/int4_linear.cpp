// int4_linear: y = x W^T for an int4 projection of a float32 model on the CPU, W in groups along its
// inputs (w = q * scale + offset, q in 0..15, per group and output). libtorch's CPU kernel takes
// bfloat16 activations, which costs a cast each way around every projection, and multiplies in
// float; this takes the products in integers, 64 per instruction with AVX-512 VNNI's vpdpbusd, on
// activations quantized as activation_blocks.h says.
//
// The weight's layout is Spillway's (the decoder script's Int4Packer writes it): [out / 16, in / 8,
// 16, 4] bytes, byte (o / 16, i / 8, o % 16, i % 4) holding input i's value in its low nibble and
// input i + 4's in its high one (for i % 8 < 4). So one 64-byte load gives, for 16 outputs, the
// values of 8 consecutive inputs, four to a 32-bit lane as vpdpbusd pairs them with four bytes of x.

#include <algorithm>
#include <vector>

#include "activation_blocks.h"
#include "stable_abi.h"

namespace spillway {
namespace {

constexpr int64_t BLOCK = ACTIVATION_BLOCK;

struct Int4Linear {
  int64_t rows, inputs, outputs, group;
  const uint8_t* weight;
  const float* scales;   // [groups, outputs]
  const float* offsets;  // [groups, outputs]
  const QuantizedRows& quantized;
  std::vector<float> sums;  // [rows, groups]: each row's exact sum over each group, for the offsets
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
            const int8_t* c = quantized.coarse_at(first + r, b * BLOCK + octet * 8);
            const int8_t* f = quantized.fine_at(first + r, b * BLOCK + octet * 8);
            coarse[r] = _mm512_dpbusd_epi32(coarse[r], first_four, broadcast4(c));
            coarse[r] = _mm512_dpbusd_epi32(coarse[r], last_four, broadcast4(c + 4));
            fine[r] = _mm512_dpbusd_epi32(fine[r], first_four, broadcast4(f));
            fine[r] = _mm512_dpbusd_epi32(fine[r], last_four, broadcast4(f + 4));
          }
        }
        for (int r = 0; r < R; r++) {
          in_group[r] = _mm512_fmadd_ps(residual_sum(coarse[r], fine[r]), _mm512_set1_ps(quantized.scale(first + r, b)), in_group[r]);
        }
      }
      __m512 scale = _mm512_loadu_ps(scales + g * outputs + block * 16);
      __m512 offset = _mm512_loadu_ps(offsets + g * outputs + block * 16);
      for (int r = 0; r < R; r++) {
        acc[r] = _mm512_fmadd_ps(in_group[r], scale, acc[r]);
        acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(sums[(first + r) * groups() + g]), offset, acc[r]);
      }
    }
    for (int r = 0; r < R; r++) _mm512_storeu_ps(out + (first + r) * outputs + block * 16, acc[r]);
  }

  void run(int thread, int team) const { multiply_output_blocks(*this, outputs / 16, rows, thread, team); }
};

}  // namespace

// int4_linear(Tensor x, Tensor weight, Tensor scale_offsets) -> Tensor
//   x: float32 [rows, in], dense
//   weight: uint8 [out / 16, in / 8, 16, 4], Spillway's layout (above)
//   scale_offsets: float32 [2, groups, out], the scales then the offsets; in / groups, the group
//     size, a multiple of 32
// Returns float32 [rows, out].
void int4_linear(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("int4_linear");
  TensorArgument x(stack[0]), weight(stack[1]), scale_offsets(stack[2]);
  checks.require(integer_kernels_supported(), "this CPU has no AVX-512 VNNI");
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

  const float* xs = x.data<float>();
  int64_t group = inputs / groups;
  QuantizedRows quantized(xs, rows, inputs);
  std::vector<float> sums(static_cast<size_t>(rows * groups));
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t b = 0; b < quantized.blocks(); b++) sums[r * groups + b * BLOCK / group] += quantized.input_sum(r, b);
  }
  Int4Linear work{rows, inputs, outputs, group, weight.data<uint8_t>(), scale_offsets.data<float>(),
                  scale_offsets.data<float>() + groups * outputs, quantized, std::move(sums), nullptr, 1};
  stack[0] = reinterpret_cast<StableIValue>(multiply_into_new_matrix(checks, work, rows, inputs, outputs));
}

}  // namespace spillway
