// Float32 activations as the integer kernels (int4_linear, int8_linear) take them: each 32 inputs of
// a row quantized to int8 twice over, with one scale: the values, then what their rounding left, on
// a 254 times finer step. One int8 alone (llama.cpp's Q8_0 activations) moved a small model's logits
// 4-7 times as far from the dequantized float model's as bfloat16's rounding does; with the residual
// each input's error is at most a 64,516th of its block's largest magnitude, for a second vpdpbusd
// per weight, which a batch-1 step (bound by reading the weights) barely feels.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "stable_abi.h"

namespace spillway {

// Inputs per activation scale.
constexpr int64_t ACTIVATION_BLOCK = 32;
// Steps between the coarse quantization's and the residual's.
constexpr float RESIDUAL_STEPS = 254.0f;

// A call's rows quantized: x[r, i] ~ (coarse[r, i] + fine[r, i] / 254) * scales[r, i / 32], each
// row padded with zeros to `padded` inputs (a multiple of 32); per block, the sums of its coarse and
// of its fine values, and of its inputs as they were. Needs AVX-512 (F and BW), as every kernel that
// takes it does.
//
// The arrays are the calling thread's scratch, kept from call to call: freshly allocated for every
// call, their pages faulted in and zeroed cost more than quantizing (measured standalone: about 5 ns
// an input against 0.4). A thread holds one QuantizedRows at a time (a second throws), and keeps its
// scratch, 2.5 bytes an input of the call, while it is at most RETAINED_BYTES (16 MiB: a call of
// 2,048 rows of 1,536 inputs takes 7.5); a larger call's is freed when it ends, so that a long
// prefill chunk's does not stay.
class QuantizedRows {
 public:
  // What a thread's scratch may keep between calls.
  static constexpr size_t RETAINED_BYTES = size_t{16} << 20;

  QuantizedRows(const float* x, int64_t rows, int64_t inputs);
  ~QuantizedRows();
  QuantizedRows(const QuantizedRows&) = delete;
  QuantizedRows& operator=(const QuantizedRows&) = delete;

  int64_t blocks() const { return padded_ / ACTIVATION_BLOCK; }
  const int8_t* coarse_at(int64_t row, int64_t input) const { return scratch_->coarse.data + row * padded_ + input; }
  const int8_t* fine_at(int64_t row, int64_t input) const { return scratch_->fine.data + row * padded_ + input; }
  float scale(int64_t row, int64_t block) const { return scratch_->scales.data[row * blocks() + block]; }
  int32_t coarse_sum(int64_t row, int64_t block) const { return scratch_->coarse_sums.data[row * blocks() + block]; }
  int32_t fine_sum(int64_t row, int64_t block) const { return scratch_->fine_sums.data[row * blocks() + block]; }
  float input_sum(int64_t row, int64_t block) const { return scratch_->input_sums.data[row * blocks() + block]; }

 private:
  // Uninitialized storage for at least the last size asked of it.
  template <typename T> struct Buffer {
    std::unique_ptr<T[]> owner;
    T* data = nullptr;
    size_t capacity = 0;

    void reserve(size_t n) {
      if (n > capacity) {
        owner.reset(new T[n]);
        data = owner.get();
        capacity = n;
      }
    }

    size_t bytes() const { return capacity * sizeof(T); }

    void release() {
      owner.reset();
      data = nullptr;
      capacity = 0;
    }
  };

  struct Scratch {
    Buffer<int8_t> coarse, fine;
    Buffer<float> scales, input_sums;
    Buffer<int32_t> coarse_sums, fine_sums;
    bool in_use = false;

    size_t bytes() const {
      return coarse.bytes() + fine.bytes() + scales.bytes() + input_sums.bytes() + coarse_sums.bytes() + fine_sums.bytes();
    }

    void release() {
      coarse.release();
      fine.release();
      scales.release();
      input_sums.release();
      coarse_sums.release();
      fine_sums.release();
    }
  };

  static Scratch& thread_scratch();
  void quantize_row(const float* x, int64_t inputs, int64_t row);

  int64_t padded_;
  Scratch* scratch_;
};

// Four int8 activations, repeated in every 32-bit lane: what vpdpbusd pairs with each output's four weights.
__attribute__((target("avx512f"))) inline __m512i broadcast4(const int8_t* x) {
  int32_t four;
  std::memcpy(&four, x, 4);
  return _mm512_set1_epi32(four);
}

// (coarse + fine / 254) as float, from the two int32 sums of a block's products.
__attribute__((target("avx512f"))) inline __m512 residual_sum(__m512i coarse, __m512i fine) {
  // The zero-masked form: GCC 12 warns of its own header's undefined merge source in the plain one.
  return _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, fine), _mm512_set1_ps(1.0f / RESIDUAL_STEPS),
                         _mm512_maskz_cvtepi32_ps(0xFFFF, coarse));
}

// Rows multiplied together against each 64 bytes of weights loaded.
constexpr int ROW_TILE = 4;

// Thread `thread` of `team`'s share of a projection's output blocks (16 outputs each), every row:
// a block's weights stay close, in the first level cache for a few thousand inputs, while the rows
// pass over them ROW_TILE at a time. Kernel::multiply<R>(block, first) does rows [first, first + R).
template <typename Kernel>
void multiply_output_blocks(const Kernel& kernel, int64_t blocks, int64_t rows, int thread, int team) {
  int64_t per_thread = (blocks + team - 1) / team;
  int64_t to = std::min(blocks, (thread + 1) * per_thread);
  for (int64_t block = std::min(blocks, thread * per_thread); block < to; block++) {
    int64_t r = 0;
    for (; r + ROW_TILE <= rows; r += ROW_TILE) kernel.template multiply<ROW_TILE>(block, r);
    switch (rows - r) {
      case 3: kernel.template multiply<3>(block, r); break;
      case 2: kernel.template multiply<2>(block, r); break;
      case 1: kernel.template multiply<1>(block, r); break;
      default: break;
    }
  }
}

// Runs an integer kernel's `work` (whose run(thread, team) multiplies a share of the output blocks
// into work.out) over a call of rows x inputs x outputs, on libtorch's threads when it is large
// enough, and returns the new float32 [rows, outputs] it filled.
template <typename Work>
AtenTensorHandle multiply_into_new_matrix(const Checks& checks, Work& work, int64_t rows, int64_t inputs, int64_t outputs) {
  work.threads = threads_for(rows * inputs * outputs);
  AtenTensorHandle result = new_matrix(checks, rows, outputs, &work.out);
  if (rows > 0) run_on_threads(work, work.threads > 1 && outputs > 16);
  return result;
}

}  // namespace spillway
