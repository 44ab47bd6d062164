// rms_norm: x / sqrt(mean(x^2) + eps) * weight over the last axis, float32 on the CPU. libtorch 2.7
// composes its CPU rms_norm of six kernels (a power, a mean, an add, a reciprocal square root and
// two multiplies), each dispatched and allocating; the rows a step normalizes (a token's few
// hundred to few thousand floats) take longer to dispatch than to compute.

#include <cmath>
#include <cstdint>
#include <vector>

#include "stable_abi.h"

namespace spillway {
namespace {

// Where each of x's rows starts: x may be a view (a narrowed or permuted tensor), which the norm
// reads where it lies rather than having it copied first.
std::vector<int64_t> row_offsets(const TensorArgument& x, int64_t rows) {
  std::vector<int64_t> offsets(static_cast<size_t>(rows));
  int64_t outer = x.dim() - 1;
  std::vector<int64_t> index(static_cast<size_t>(outer), 0);
  for (int64_t r = 0; r < rows; r++) {
    int64_t offset = 0;
    for (int64_t d = 0; d < outer; d++) offset += index[d] * x.stride(d);
    offsets[r] = offset;
    for (int64_t d = outer - 1; d >= 0; d--) {
      if (++index[d] < x.size(d)) break;
      index[d] = 0;
    }
  }
  return offsets;
}

}  // namespace

SPILLWAY_CLONES
void normalize_row(const float* row, const float* weight, int64_t width, float eps, float* y) {
  float squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t i = 0; i < width; i++) squares += row[i] * row[i];
  float inverse = 1.0f / std::sqrt(squares / static_cast<float>(width) + eps);
  if (weight == nullptr) {
#pragma omp simd
    for (int64_t i = 0; i < width; i++) y[i] = row[i] * inverse;
  } else {
#pragma omp simd
    for (int64_t i = 0; i < width; i++) y[i] = row[i] * inverse * weight[i];
  }
}

// rms_norm(Tensor x, Tensor weight, float eps) -> Tensor
//   x: float32, normalized over its last axis
//   weight: float32 of x's trailing shape (usually [width]; q/k norms' [heads, width] give each
//     head its own row), dense, or empty for none
// Returns a dense float32 tensor of x's shape.
void rms_norm(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("rms_norm");
  TensorArgument x(stack[0]), weight(stack[1]);
  float eps = static_cast<float>(double_argument(stack[2]));
  checks.require(x.device_type() == CPU && weight.device_type() == CPU, "every tensor must be on the CPU");
  checks.require(x.dtype() == FLOAT32 && x.dim() >= 1, "x must be float32");
  int64_t width = x.size(x.dim() - 1);
  bool weighted = weight.numel() > 0;
  bool trailing = weight.dim() >= 1 && weight.dim() <= x.dim();
  for (int64_t i = 1; trailing && i <= weight.dim(); i++) trailing = weight.size(weight.dim() - i) == x.size(x.dim() - i);
  checks.require(!weighted || (weight.dtype() == FLOAT32 && trailing && weight.contiguous()),
                 "the weight must be a dense float32 of x's trailing shape, or empty");
  int64_t rows = width == 0 ? 0 : x.numel() / width;
  std::vector<int64_t> offsets = row_offsets(x, rows);
  float* out;
  AtenTensorHandle result = new_tensor_like(checks, x, &out);
  int64_t weight_rows = weighted ? weight.numel() / width : 1;
  std::vector<float> scratch;
  for (int64_t r = 0; r < rows; r++) {
    const float* row = dense_row(x.data<float>() + offsets[r], x.stride(x.dim() - 1), width, scratch);
    normalize_row(row, weighted ? weight.data<float>() + (r % weight_rows) * width : nullptr, width, eps, out + r * width);
  }
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
