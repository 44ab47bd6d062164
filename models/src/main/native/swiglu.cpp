// swiglu: silu(gate) * up over a layer's fused gate-up projection ([tokens, 2 * intermediate],
// gates first), float32 on the CPU: one operator where libtorch dispatches four (two narrows, a
// silu and a multiply) and allocates twice, per layer.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "stable_abi.h"

namespace spillway {
namespace {

// e^y as a loop the compiler vectorizes: 2^k e^r with |r| <= ln 2 / 2, e^r by its degree-6 Taylor
// polynomial (relative error under 2e-7, about libm's); infinity above 88.7 and 0 below -87.3,
// where float32's range ends; NaN stays NaN.
inline float exp_approx(float y) {
  float c = y > 88.0f ? 88.0f : y < -87.0f ? -87.0f : y != y ? 0.0f : y;
  float k = __builtin_nearbyintf(c * 1.44269504f);
  float r = c - k * 0.693145752f - k * 1.42860677e-6f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float two_to_k;
  std::memcpy(&two_to_k, &bits, sizeof two_to_k);
  return y != y ? y : y > 88.7f ? INFINITY : y < -87.3f ? 0.0f : p * two_to_k;
}

SPILLWAY_CLONES
void gate_rows(const float* gate_up, int64_t row_stride, int64_t rows, int64_t intermediate, float* out) {
  for (int64_t t = 0; t < rows; t++) {
    const float* gate = gate_up + t * row_stride;
    const float* up = gate + intermediate;
    float* y = out + t * intermediate;
#pragma omp simd
    for (int64_t i = 0; i < intermediate; i++) y[i] = gate[i] / (1.0f + exp_approx(-gate[i])) * up[i];
  }
}

}  // namespace

// swiglu(Tensor gate_up) -> Tensor
//   gate_up: float32 [tokens, 2 * intermediate], the gates then the ups, its last axis dense
// Returns float32 [tokens, intermediate].
void swiglu(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("swiglu");
  TensorArgument gate_up(stack[0]);
  checks.require(gate_up.device_type() == CPU, "gate_up must be on the CPU");
  checks.require(gate_up.dtype() == FLOAT32 && gate_up.dim() == 2 && gate_up.size(1) % 2 == 0
                     && (gate_up.size(1) <= 1 || gate_up.stride(1) == 1),
                 "gate_up must be float32 [tokens, 2 * intermediate], its last axis dense");
  int64_t rows = gate_up.size(0);
  int64_t intermediate = gate_up.size(1) / 2;
  float* out;
  AtenTensorHandle result = new_matrix(checks, rows, intermediate, &out);
  gate_rows(gate_up.data<float>(), gate_up.stride(0), rows, intermediate, out);
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
