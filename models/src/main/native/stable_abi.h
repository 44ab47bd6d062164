// What Spillway's operators share: libtorch's stable C ABI as they call it (declared here by hand,
// bound at registration in spillway_ops.cpp), libtorch's OpenMP runtime, and argument checking.
#ifndef SPILLWAY_STABLE_ABI_H
#define SPILLWAY_STABLE_ABI_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

// The hot loops are compiled for AVX-512 and AVX2 machines beside the baseline, the one to run
// chosen at load by what the CPU has. GCC 12 names the x86-64 levels (v3 brings FMA with AVX2);
// older ones take the features alone.
#if __GNUC__ >= 12
#define SPILLWAY_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPILLWAY_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

namespace spillway {

using AOTITorchError = int32_t;
using AtenTensorHandle = void*;
using TorchLibraryHandle = void*;
// A boxed operator's stack slot: a tensor handle, an int64 or a double, by value.
using StableIValue = uint64_t;
using BoxedKernel = void (*)(StableIValue*, uint64_t, uint64_t);

struct StableAbi {
  AOTITorchError (*get_data_ptr)(AtenTensorHandle, void**);
  AOTITorchError (*get_sizes)(AtenTensorHandle, int64_t**);
  AOTITorchError (*get_strides)(AtenTensorHandle, int64_t**);
  AOTITorchError (*get_dim)(AtenTensorHandle, int64_t*);
  AOTITorchError (*get_dtype)(AtenTensorHandle, int32_t*);
  AOTITorchError (*get_device_type)(AtenTensorHandle, int32_t*);
  AOTITorchError (*empty_strided)(int64_t, const int64_t*, const int64_t*, int32_t, int32_t, int32_t, AtenTensorHandle*);
  AOTITorchError (*delete_tensor_object)(AtenTensorHandle);
  AOTITorchError (*library_init_fragment)(const char*, const char*, uint32_t, TorchLibraryHandle*);
  AOTITorchError (*library_init_impl)(const char*, const char*, const char*, uint32_t, TorchLibraryHandle*);
  AOTITorchError (*library_def)(TorchLibraryHandle, const char*);
  AOTITorchError (*library_impl)(TorchLibraryHandle, const char*, BoxedKernel);
};

// libtorch's OpenMP runtime, found through libtorch itself (it links a copy of libgomp under a
// hashed name): parallel regions here run on the very threads libtorch's own ops use. A second
// OpenMP runtime would bring a second team competing with libtorch's spinning one for the cores.
struct OpenMp {
  void (*parallel)(void (*)(void*), void*, unsigned, unsigned);  // GOMP_parallel, what "omp parallel" compiles to
  int (*max_threads)();
  int (*thread_num)();
  int (*num_threads)();
};

// Filled once, by spillway_register_operators, before any operator can run; read-only after.
extern StableAbi abi;
extern OpenMp openmp;

// c10::ScalarType and c10::DeviceType values, fixed by libtorch's serialization formats.
constexpr int32_t UINT8 = 0;
constexpr int32_t INT64 = 4;
constexpr int32_t FLOAT32 = 6;
constexpr int32_t CPU = 0;

// An operator's tensor argument: the dispatcher hands over a new handle per argument, which the
// operator owns and must delete. Its metadata is read through the ABI once, here: the checks and
// loops that follow ask for sizes and strides many times a call.
class TensorArgument {
 public:
  explicit TensorArgument(StableIValue slot) : handle_(reinterpret_cast<AtenTensorHandle>(slot)) {
    abi.get_dim(handle_, &dim_);
    abi.get_sizes(handle_, &sizes_);
    abi.get_strides(handle_, &strides_);
    abi.get_dtype(handle_, &dtype_);
    abi.get_device_type(handle_, &device_type_);
    abi.get_data_ptr(handle_, &data_);
  }
  ~TensorArgument() { abi.delete_tensor_object(handle_); }
  TensorArgument(const TensorArgument&) = delete;
  TensorArgument& operator=(const TensorArgument&) = delete;

  int64_t dim() const { return dim_; }
  int64_t size(int64_t i) const { return sizes_[i]; }
  int64_t stride(int64_t i) const { return strides_[i]; }
  int32_t dtype() const { return dtype_; }
  int32_t device_type() const { return device_type_; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t i = 0; i < dim(); i++) n *= size(i);
    return n;
  }
  bool contiguous() const {
    if (numel() == 0) return true;
    int64_t expected = 1;
    for (int64_t i = dim() - 1; i >= 0; i--) {
      if (size(i) != 1 && stride(i) != expected) return false;
      expected *= size(i);
    }
    return true;
  }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }

 private:
  AtenTensorHandle handle_;
  int64_t dim_;
  int64_t* sizes_;
  int64_t* strides_;
  int32_t dtype_;
  int32_t device_type_;
  void* data_;
};

// A float argument: the boxed stack holds it as a double's bits.
inline double double_argument(StableIValue slot) {
  double value;
  static_assert(sizeof value == sizeof slot, "a float argument is a double in its slot");
  std::memcpy(&value, &slot, sizeof value);
  return value;
}

// Below about 2^16 multiply-adds (a 64-wide head's group of 3 over 340 keys) a parallel region's
// hand-off costs more than it saves: the threads a call of that much work should use, 1 where it
// is too little or this libtorch links no libgomp.
inline int threads_for(int64_t multiply_adds) {
  if (openmp.parallel == nullptr || multiply_adds < (int64_t{1} << 16)) return 1;
  int threads = openmp.max_threads();
  return threads > 1 ? threads : 1;
}

// Checks an operator's arguments: a failure reaches the caller as an error naming the operator.
class Checks {
 public:
  explicit Checks(const char* operator_name) : operator_(operator_name) {}
  void require(bool holds, const char* what) const {
    if (!holds) throw std::invalid_argument(std::string("spillway::") + operator_ + ": " + what);
  }

 private:
  const char* operator_;
};

// e^y as the hot loops' compilers vectorize it: 2^k e^r with |r| <= ln 2 / 2, e^r by its degree-6
// Taylor polynomial (relative error under 2e-7, about libm's). Exact to that error over float32's
// normal range, [-87.33, 88.72]; 0 below it, infinity above; NaN stays NaN.
inline float exp_approx(float y) {
  float c = y > 88.72f ? 88.72f : y < -87.33f ? -87.33f : y != y ? 0.0f : y;
  float k = __builtin_nearbyintf(c * 1.44269504f);
  float r = c - k * 0.693145752f - k * 1.42860677e-6f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  // 2^128 (k at the top of the range) is past float32's exponents: 2^127 times 2.
  float twice = k > 127.0f ? 2.0f : 1.0f;
  int32_t bits = (static_cast<int32_t>(k > 127.0f ? 127.0f : k) + 127) << 23;
  float two_to_k;
  std::memcpy(&two_to_k, &bits, sizeof two_to_k);
  return y != y ? y : y > 88.72f ? INFINITY : y < -87.33f ? 0.0f : p * twice * two_to_k;
}

// Runs work.run(thread, team) on each of libtorch's OpenMP threads, or work.run(0, 1) on the
// calling thread when not `parallel`. The team may be smaller than work.threads (nested in another
// region, or the runtime gave fewer), never larger, so per-thread scratch sized by it stays each
// thread's own.
template <typename Work> void run_on_threads(Work& work, bool parallel) {
  if (!parallel) {
    work.run(0, 1);
    return;
  }
  openmp.parallel(
      [](void* self) {
        auto* shared = static_cast<Work*>(self);
        int team = openmp.num_threads() < shared->threads ? openmp.num_threads() : shared->threads;
        int thread = openmp.thread_num();
        if (thread < team) shared->run(thread, team);
      },
      &work, 0, 0);
}

// A row of n floats at `row`, `stride` apart: the row itself where they are adjacent, else a
// dense copy in `scratch` (a matmul's output may be a view whose rows are strided, as the
// decoder's batched row blocks return for 16 or 32 rows).
inline const float* dense_row(const float* row, int64_t stride, int64_t n, std::vector<float>& scratch) {
  if (stride == 1 || n <= 1) return row;
  scratch.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) scratch[i] = row[i * stride];
  return scratch.data();
}

// A new dense float32 CPU tensor of `dims` sizes, and where its data lies. Allocate it last: once
// it exists nothing may throw before it is handed over on the stack.
inline AtenTensorHandle new_dense(const Checks& checks, const int64_t* sizes, int64_t dims, float** data) {
  int64_t strides[8];
  checks.require(dims >= 1 && dims <= 8, "an output of 1 to 8 dimensions");
  int64_t stride = 1;
  for (int64_t i = dims - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= sizes[i];
  }
  AtenTensorHandle result;
  checks.require(abi.empty_strided(dims, sizes, strides, FLOAT32, CPU, 0, &result) == 0, "the output could not be allocated");
  void* out;
  abi.get_data_ptr(result, &out);
  *data = static_cast<float*>(out);
  return result;
}

inline AtenTensorHandle new_matrix(const Checks& checks, int64_t rows, int64_t columns, float** data) {
  int64_t sizes[2] = {rows, columns};
  return new_dense(checks, sizes, 2, data);
}

// Of `like`'s shape.
inline AtenTensorHandle new_tensor_like(const Checks& checks, const TensorArgument& like, float** data) {
  int64_t sizes[8];
  checks.require(like.dim() <= 8, "more than 8 dimensions");
  for (int64_t i = 0; i < like.dim(); i++) sizes[i] = like.size(i);
  return new_dense(checks, sizes, like.dim(), data);
}

// x / sqrt(mean(x^2) + eps) * weight over one row of `width` (weight null for none), into y.
void normalize_row(const float* row, const float* weight, int64_t width, float eps, float* y);

// The operators, boxed as libtorch calls them.
void decode_attention(StableIValue* stack, uint64_t, uint64_t);
void int4_linear(StableIValue* stack, uint64_t, uint64_t);
void int8_linear(StableIValue* stack, uint64_t, uint64_t);
void rms_norm(StableIValue* stack, uint64_t, uint64_t);
void rotate_and_store(StableIValue* stack, uint64_t, uint64_t);
void swiglu(StableIValue* stack, uint64_t, uint64_t);
// Whether this CPU runs int4_linear and int8_linear (they need AVX-512 VNNI); elsewhere they refuse.
bool integer_kernels_supported();

}  // namespace spillway

#endif
