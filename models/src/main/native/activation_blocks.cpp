#include "activation_blocks.h"

// GCC 12's AVX-512 headers pass _mm512_undefined_ps() as the merge source of unmasked forms, which
// -Wmaybe-uninitialized then reports at every call site.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace spillway {
namespace {

// Half a block (16 inputs) quantized on its block's inverse step and step; returns the coarse
// and the fine values as int32, and stores them as int8.
struct HalfBlock {
  __m512i coarse, fine;
};

__attribute__((target("avx512f,avx512bw"))) inline HalfBlock quantize_half(__m512 value, __m512 inverse, __m512 step, int8_t* coarse,
                                                                           int8_t* fine) {
  const int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(value, inverse), nearest);
  // What rounding left is within half a step: on a 254 times finer one it spans [-127, 127].
  __m512 left = _mm512_mul_ps(_mm512_mul_ps(_mm512_fnmadd_ps(q, step, value), inverse), _mm512_set1_ps(RESIDUAL_STEPS));
  __m512 residual = _mm512_min_ps(_mm512_set1_ps(127.0f), _mm512_max_ps(_mm512_set1_ps(-127.0f), _mm512_roundscale_ps(left, nearest)));
  HalfBlock half{_mm512_cvtps_epi32(q), _mm512_cvtps_epi32(residual)};
  _mm_storeu_si128(reinterpret_cast<__m128i*>(coarse), _mm512_cvtepi32_epi8(half.coarse));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(fine), _mm512_cvtepi32_epi8(half.fine));
  return half;
}

}  // namespace

bool integer_kernels_supported() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  }();
  return supported;
}

QuantizedRows::Scratch& QuantizedRows::thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

QuantizedRows::QuantizedRows(const float* x, int64_t rows, int64_t inputs)
    : padded_((inputs + ACTIVATION_BLOCK - 1) / ACTIVATION_BLOCK * ACTIVATION_BLOCK), scratch_(&thread_scratch()) {
  if (scratch_->in_use) throw std::logic_error("this thread's quantized rows are in use by another call");
  size_t values = static_cast<size_t>(rows * padded_);
  size_t blocks_in_rows = static_cast<size_t>(rows * blocks());
  // Reserved before the thread's scratch is marked in use: a call too large to allocate fails on
  // its own, and neither keeps what it got nor leaves the scratch claimed for the thread's next call.
  try {
    scratch_->coarse.reserve(values);
    scratch_->fine.reserve(values);
    scratch_->scales.reserve(blocks_in_rows);
    scratch_->input_sums.reserve(blocks_in_rows);
    scratch_->coarse_sums.reserve(blocks_in_rows);
    scratch_->fine_sums.reserve(blocks_in_rows);
  } catch (...) {
    scratch_->release();
    throw;
  }
  scratch_->in_use = true;
  for (int64_t r = 0; r < rows; r++) quantize_row(x + r * inputs, inputs, r);
}

QuantizedRows::~QuantizedRows() {
  scratch_->in_use = false;
  if (scratch_->bytes() > RETAINED_BYTES) scratch_->release();
}

__attribute__((target("avx512f,avx512bw"))) void QuantizedRows::quantize_row(const float* x, int64_t inputs, int64_t row) {
  for (int64_t start = 0; start < padded_; start += ACTIVATION_BLOCK) {
    int64_t count = std::max<int64_t>(0, std::min(ACTIVATION_BLOCK, inputs - start));
    // The inputs past the row's end (a short last block) read as zeros.
    __mmask16 low = static_cast<__mmask16>(count >= 16 ? 0xFFFF : (1u << count) - 1);
    __mmask16 high = static_cast<__mmask16>(count >= 32 ? 0xFFFF : count <= 16 ? 0 : (1u << (count - 16)) - 1);
    __m512 a = _mm512_maskz_loadu_ps(low, x + start);
    __m512 b = _mm512_maskz_loadu_ps(high, x + start + 16);
    __m512 magnitudes = _mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b));
    // NaN or infinity anywhere in the block makes its scale NaN, so every output it reaches is NaN
    // (where a float matmul gives NaN or an infinity) instead of being quantized away.
    bool finite = _mm512_cmp_ps_mask(_mm512_abs_ps(a), _mm512_set1_ps(3.4028235e38f), _CMP_LE_OQ) == 0xFFFF
                  && _mm512_cmp_ps_mask(_mm512_abs_ps(b), _mm512_set1_ps(3.4028235e38f), _CMP_LE_OQ) == 0xFFFF;
    float largest = finite ? _mm512_reduce_max_ps(magnitudes) : 0.0f;
    // A block of magnitudes under about 127 / FLT_MAX would overflow the inverse: it counts as zeros.
    float inverse = largest > 0 ? 127.0f / largest : 0.0f;
    if (!(inverse <= 3.0e38f)) inverse = 0.0f;
    float step = inverse > 0 ? largest / 127.0f : 0.0f;
    int64_t block = row * blocks() + start / ACTIVATION_BLOCK;
    scratch_->scales.data[block] = finite ? step : NAN;
    if (!finite) a = b = _mm512_setzero_ps();
    int8_t* coarse = scratch_->coarse.data + row * padded_ + start;
    int8_t* fine = scratch_->fine.data + row * padded_ + start;
    HalfBlock first = quantize_half(a, _mm512_set1_ps(inverse), _mm512_set1_ps(step), coarse, fine);
    HalfBlock second = quantize_half(b, _mm512_set1_ps(inverse), _mm512_set1_ps(step), coarse + 16, fine + 16);
    scratch_->coarse_sums.data[block] = _mm512_reduce_add_epi32(_mm512_add_epi32(first.coarse, second.coarse));
    scratch_->fine_sums.data[block] = _mm512_reduce_add_epi32(_mm512_add_epi32(first.fine, second.fine));
    scratch_->input_sums.data[block] = _mm512_reduce_add_ps(_mm512_add_ps(a, b));
  }
}

}  // namespace spillway
