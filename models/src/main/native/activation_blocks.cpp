#include "activation_blocks.h"

#include "stable_abi.h"

namespace spillway {
namespace {

SPILLWAY_CLONES
void quantize_row(const float* x, int64_t inputs, int64_t padded, int8_t* coarse, int8_t* fine, float* scales) {
  for (int64_t start = 0; start < padded; start += ACTIVATION_BLOCK) {
    int64_t count = std::max<int64_t>(0, std::min(ACTIVATION_BLOCK, inputs - start));
    const float* block = x + start;
    float largest = 0;
    bool finite = true;
    for (int64_t i = 0; i < count; i++) {
      largest = std::max(largest, std::fabs(block[i]));
      finite = finite && std::isfinite(block[i]);
    }
    // NaN or infinity anywhere in the block makes its scale NaN, so every output it reaches is NaN
    // (where a float matmul gives NaN or an infinity) instead of being quantized away.
    // A block of magnitudes under about 127 / FLT_MAX would overflow the inverse: it counts as zeros.
    float inverse = largest > 0 ? 127.0f / largest : 0.0f;
    if (!(inverse <= 3.0e38f)) inverse = 0.0f;
    float step = inverse > 0 ? largest / 127.0f : 0.0f;
    scales[start / ACTIVATION_BLOCK] = finite ? step : NAN;
    for (int64_t i = 0; i < ACTIVATION_BLOCK; i++) {
      float value = i < count && finite ? block[i] : 0.0f;
      float q = __builtin_nearbyintf(value * inverse);
      // What rounding left is within half a step: on a 254 times finer one it spans [-127, 127].
      float residual = __builtin_nearbyintf((value - q * step) * inverse * RESIDUAL_STEPS);
      coarse[start + i] = static_cast<int8_t>(q);
      fine[start + i] = static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, residual)));
    }
  }
}

}  // namespace

QuantizedRows::QuantizedRows(const float* x, int64_t rows, int64_t inputs)
    : padded((inputs + ACTIVATION_BLOCK - 1) / ACTIVATION_BLOCK * ACTIVATION_BLOCK),
      coarse(static_cast<size_t>(rows * padded)),
      fine(static_cast<size_t>(rows * padded)),
      scales(static_cast<size_t>(rows * blocks())) {
  for (int64_t r = 0; r < rows; r++) {
    quantize_row(x + r * inputs, inputs, padded, coarse.data() + r * padded, fine.data() + r * padded, scales.data() + r * blocks());
  }
}

}  // namespace spillway
