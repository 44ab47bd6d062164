// rms_norm: x / sqrt(mean(x^2) + eps) * weight over the last axis, float32 on the CPU. libtorch 2.7
// composes its CPU rms_norm of about ten operators (a power, a mean, an add, a reciprocal square
// root, multiplies, casts), each dispatched, a step's 61 calls about 600 operators; the rows a step
// normalizes (a token's few hundred to few thousand floats) take longer to dispatch than to compute.

#include <cmath>
#include <cstdint>
#include <vector>

#include "stable_abi.h"

namespace spillway {
namespace {

// Where each of x's rows starts: x may be a view (a narrowed or permuted tensor) whose last axis
// alone is dense, which the norm reads where it lies rather than having it copied first.
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

SPILLWAY_CLONES
void normalize_rows(const float* x, const int64_t* offsets, const float* weights, int64_t weight_rows, int64_t rows, int64_t width,
                    float eps, float* out) {
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x + offsets[r];
    const float* weight = weights == nullptr ? nullptr : weights + (r % weight_rows) * width;
    float* y = out + r * width;
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
}

}  // namespace

// rms_norm(Tensor x, Tensor weight, float eps) -> Tensor
//   x: float32, normalized over its last axis, which must be dense
//   weight: float32 of x's trailing shape (usually [width]; q/k norms' [heads, width] give each
//     head its own row), dense, or empty for none
// Returns a dense float32 tensor of x's shape.
void rms_norm(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("rms_norm");
  TensorArgument x(stack[0]), weight(stack[1]);
  double eps;
  static_assert(sizeof eps == sizeof stack[2], "a float argument is a double in its slot");
  std::memcpy(&eps, &stack[2], sizeof eps);
  checks.require(x.device_type() == CPU && weight.device_type() == CPU, "every tensor must be on the CPU");
  checks.require(x.dtype() == FLOAT32 && x.dim() >= 1, "x must be float32");
  int64_t width = x.size(x.dim() - 1);
  checks.require(width <= 1 || x.stride(x.dim() - 1) == 1, "x's last axis must be dense");
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
  normalize_rows(x.data<float>(), offsets.data(), weighted ? weight.data<float>() : nullptr, weight_rows, rows, width,
                 static_cast<float>(eps), out);
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
