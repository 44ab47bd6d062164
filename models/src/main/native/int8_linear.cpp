// int8_linear: y = x W^T for an int8 projection of a float32 model on the CPU, W quantized on load
// in blocks of 32 inputs with one scale each per output (llama.cpp's Q8_0 grid: w = q * scale, q in
// -127..127). A scale per 32 inputs follows the weights' local range where one per output channel
// (fbgemm's) lets each row's largest weight set the step of all its others. The products are taken
// in integers, 64 per instruction with AVX-512 VNNI's vpdpbusd, on activations quantized as
// activation_blocks.h says.
//
// The weight's layout is Spillway's (the decoder script's spillway_int8_layout writes it): [ceil(out
// / 16), padded / 4, 16, 4] bytes, padded being the inputs rounded up to a multiple of 32, byte (o /
// 16, i / 4, o % 16, i % 4) holding q + 128 for output o and input i (128, a zero, past the ends).
// So one 64-byte load gives, for 16 outputs, the values of 4 consecutive inputs, as vpdpbusd pairs
// them with four bytes of x. vpdpbusd multiplies unsigned by signed bytes, hence the bias of 128 on
// the weights: sum (q + 128) a = sum q a + 128 sum a, and each block's sum of its quantized
// activations is subtracted back, exactly, in integers.

#include <algorithm>

#include "activation_blocks.h"
#include "stable_abi.h"

namespace spillway {
namespace {

constexpr int64_t BLOCK = ACTIVATION_BLOCK;

struct Int8Linear {
  int64_t rows, outputs;
  const uint8_t* weight;
  const float* scales;  // [blocks, outputs]
  const QuantizedRows& quantized;
  float* out;
  int threads;

  int64_t blocks() const { return quantized.blocks(); }

  // Rows [first, first + R) of output block `block` (16 outputs, fewer in the last one): per block
  // of 32 inputs, the int32 sums of the products with the coarse and the fine activations, less the
  // weights' bias, scaled by the activations' scale and then by the weights'.
  template <int R>
  __attribute__((target("avx512f,avx512bw,avx512vnni"))) void multiply(int64_t block, int64_t first) const {
    const uint8_t* w = weight + block * blocks() * (BLOCK / 4) * 64;
    const __mmask16 columns = static_cast<__mmask16>((1u << std::min<int64_t>(16, outputs - block * 16)) - 1);
    __m512 acc[R];
    for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < blocks(); b++) {
      __m512i coarse[R], fine[R];
      for (int r = 0; r < R; r++) coarse[r] = fine[r] = _mm512_setzero_si512();
      for (int64_t quad = 0; quad < BLOCK / 4; quad++) {
        __m512i values = _mm512_loadu_si512(w + (b * (BLOCK / 4) + quad) * 64);
        for (int r = 0; r < R; r++) {
          coarse[r] = _mm512_dpbusd_epi32(coarse[r], values, broadcast4(quantized.coarse_at(first + r, b * BLOCK + quad * 4)));
          fine[r] = _mm512_dpbusd_epi32(fine[r], values, broadcast4(quantized.fine_at(first + r, b * BLOCK + quad * 4)));
        }
      }
      __m512 scale = _mm512_maskz_loadu_ps(columns, scales + b * outputs + block * 16);
      for (int r = 0; r < R; r++) {
        __m512 products = residual_sum(_mm512_sub_epi32(coarse[r], _mm512_set1_epi32(128 * quantized.coarse_sum(first + r, b))),
                                       _mm512_sub_epi32(fine[r], _mm512_set1_epi32(128 * quantized.fine_sum(first + r, b))));
        acc[r] = _mm512_fmadd_ps(_mm512_mul_ps(products, _mm512_set1_ps(quantized.scale(first + r, b))), scale, acc[r]);
      }
    }
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(out + (first + r) * outputs + block * 16, columns, acc[r]);
  }

  void run(int thread, int team) const { multiply_output_blocks(*this, (outputs + 15) / 16, rows, thread, team); }
};

}  // namespace

// int8_linear(Tensor x, Tensor weight, Tensor scales) -> Tensor
//   x: float32 [rows, in], dense
//   weight: uint8 [ceil(out / 16), padded / 4, 16, 4], Spillway's layout (above)
//   scales: float32 [padded / 32, out]
// Returns float32 [rows, out].
void int8_linear(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("int8_linear");
  TensorArgument x(stack[0]), weight(stack[1]), scales(stack[2]);
  checks.require(integer_kernels_supported(), "this CPU has no AVX-512 VNNI");
  checks.require(x.device_type() == CPU && weight.device_type() == CPU && scales.device_type() == CPU, "every tensor must be on the CPU");
  checks.require(x.dtype() == FLOAT32 && x.dim() == 2 && x.contiguous(), "x must be a dense float32 [rows, in]");
  int64_t rows = x.size(0);
  int64_t inputs = x.size(1);
  checks.require(inputs > 0, "x has no inputs");
  int64_t padded = (inputs + BLOCK - 1) / BLOCK * BLOCK;
  checks.require(scales.dtype() == FLOAT32 && scales.dim() == 2 && scales.size(0) == padded / BLOCK && scales.size(1) > 0
                     && scales.contiguous(),
                 "scales must be a dense float32 [in / 32 rounded up, out]");
  int64_t outputs = scales.size(1);
  checks.require(weight.dtype() == UINT8 && weight.dim() == 4 && weight.size(0) == (outputs + 15) / 16 && weight.size(1) * 4 == padded
                     && weight.size(2) == 16 && weight.size(3) == 4 && weight.contiguous(),
                 "the weight must be a dense uint8 [out / 16 rounded up, in / 4 rounded up to a multiple of 8, 16, 4]");

  QuantizedRows quantized(x.data<float>(), rows, inputs);
  Int8Linear work{rows, outputs, weight.data<uint8_t>(), scales.data<float>(), quantized, nullptr, 1};
  stack[0] = reinterpret_cast<StableIValue>(multiply_into_new_matrix(checks, work, rows, inputs, outputs));
}

}  // namespace spillway
