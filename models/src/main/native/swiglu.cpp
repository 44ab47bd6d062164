// swiglu: silu(gate) * up over a layer's fused gate-up projection ([tokens, 2 * intermediate],
// gates first), float32 on the CPU: one operator where libtorch dispatches four (two narrows, a
// silu and a multiply) and allocates twice, per layer.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "stable_abi.h"

namespace spillway {
namespace {

SPILLWAY_CLONES
void gate_row(const float* gate, const float* up, int64_t intermediate, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < intermediate; i++) y[i] = gate[i] / (1.0f + exp_approx(-gate[i])) * up[i];
}

}  // namespace

// swiglu(Tensor gate_up) -> Tensor
//   gate_up: float32 [tokens, 2 * intermediate], the gates then the ups
// Returns float32 [tokens, intermediate].
void swiglu(StableIValue* stack, uint64_t, uint64_t) {
  Checks checks("swiglu");
  TensorArgument gate_up(stack[0]);
  checks.require(gate_up.device_type() == CPU, "gate_up must be on the CPU");
  checks.require(gate_up.dtype() == FLOAT32 && gate_up.dim() == 2 && gate_up.size(1) % 2 == 0,
                 "gate_up must be float32 [tokens, 2 * intermediate]");
  int64_t rows = gate_up.size(0);
  int64_t intermediate = gate_up.size(1) / 2;
  float* out;
  AtenTensorHandle result = new_matrix(checks, rows, intermediate, &out);
  std::vector<float> scratch;
  for (int64_t t = 0; t < rows; t++) {
    const float* row = dense_row(gate_up.data<float>() + t * gate_up.stride(0), gate_up.stride(1), 2 * intermediate, scratch);
    gate_row(row, row + intermediate, intermediate, out + t * intermediate);
  }
  stack[0] = reinterpret_cast<StableIValue>(result);
}

}  // namespace spillway
