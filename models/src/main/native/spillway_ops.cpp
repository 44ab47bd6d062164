// Spillway's own CPU operators, registered with libtorch's dispatcher so that the decoder's
// TorchScript calls them as ops.spillway.*. They are built against libtorch's stable C ABI alone
// (the aoti_torch_* functions every libtorch since 2.7 exports), declared here by hand and looked up
// at registration in the libtorch_cpu.so that DJL has already loaded: no libtorch headers (the
// version DJL runs ships them only in a Python wheel or a libtorch download), and no link-time
// dependency on a library whose path only DJL knows. C++ only for its exceptions: one thrown here reaches the
// TorchScript interpreter, and from there Java, as an error naming the operator. Java calls the
// extern "C" function at the end through JNA.
//
// decode_attention: one layer's attention for one-query (decode) sequences over the paged cache,
// through the slots each sequence's context occupies. libtorch needs an index_select that copies
// every key and value, two batched matmuls and a softmax for it, each a parallel region of its own;
// this reads each key and value once, straight from the cache, in one region on libtorch's threads.

#include <dlfcn.h>

#include <algorithm>
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

namespace {

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
StableAbi abi;
OpenMp openmp;

// c10::ScalarType and c10::DeviceType values, fixed by libtorch's serialization formats.
constexpr int32_t FLOAT32 = 6;
constexpr int32_t INT64 = 4;
constexpr int32_t CPU = 0;

// An operator's tensor argument: the dispatcher hands over a new handle per argument, which the
// operator owns and must delete.
class TensorArgument {
 public:
  explicit TensorArgument(StableIValue slot) : handle_(reinterpret_cast<AtenTensorHandle>(slot)) {}
  ~TensorArgument() { abi.delete_tensor_object(handle_); }
  TensorArgument(const TensorArgument&) = delete;
  TensorArgument& operator=(const TensorArgument&) = delete;

  int64_t dim() const { int64_t d; abi.get_dim(handle_, &d); return d; }
  int64_t size(int64_t i) const { int64_t* s; abi.get_sizes(handle_, &s); return s[i]; }
  int64_t stride(int64_t i) const { int64_t* s; abi.get_strides(handle_, &s); return s[i]; }
  int32_t dtype() const { int32_t t; abi.get_dtype(handle_, &t); return t; }
  int32_t device_type() const { int32_t t; abi.get_device_type(handle_, &t); return t; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t i = 0; i < dim(); i++) n *= size(i);
    return n;
  }
  template <typename T> const T* data() const {
    void* p;
    abi.get_data_ptr(handle_, &p);
    return static_cast<const T*>(p);
  }

 private:
  AtenTensorHandle handle_;
};

void require(bool holds, const char* what) {
  if (!holds) throw std::invalid_argument(std::string("spillway::decode_attention: ") + what);
}

// e^x in place over scores already shifted by their maximum (x <= 0, or -inf where masked), as a loop
// the compiler vectorizes: 2^k e^r with |r| <= ln 2 / 2 and e^r by its degree-6 Taylor polynomial
// (relative error under 2e-7, about libm's). Below -87, where float32's normal range ends, and at
// -inf, it gives exactly 0, so a masked key weighs nothing; NaN stays NaN, as in libtorch's softmax.
SPILLWAY_CLONES
void exp_in_place(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float c = v < -87.0f || v != v ? -87.0f : v;
    float k = __builtin_nearbyintf(c * 1.44269504f);
    float r = c - k * 0.693145752f - k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
    float two_to_k;
    std::memcpy(&two_to_k, &bits, sizeof two_to_k);
    x[i] = v != v ? v : v < -87.0f ? 0.0f : p * two_to_k;
  }
}

// Issues prefetches for the `bytes` at `p`, one per cache line: the slots a context lists are
// scattered over the cache, so the hardware's stream prefetchers cannot see the next one coming.
inline void prefetch(const float* p, int64_t bytes) {
  const char* c = reinterpret_cast<const char*>(p);
  for (int64_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(c + offset);
}

// How far ahead of the position being read its successors' keys or values are prefetched.
constexpr int64_t PREFETCH_AHEAD = 4;
// The most context positions a share attends: its scores (heads x positions floats) stay small.
constexpr int64_t MAX_CHUNK = 4096;

// One share of a call: a chunk [from, to) of one sequence's context positions, for every query head.
// Its result is unnormalized, per query head: the scores' maximum, the sum of exp(score - maximum),
// and the values weighted by those exponentials, which combine() merges across a sequence's chunks.
struct ChunkResult {
  float* maxima;   // [heads]
  float* sums;     // [heads]
  float* weighted; // [heads, headDim]
};

SPILLWAY_CLONES
void attend_chunk(const float* cache, int64_t kv_heads, int64_t group, int64_t head_dim, const float* q, int64_t q_head_stride,
                  const int64_t* slots, const float* mask, int64_t from, int64_t to, float* scores, ChunkResult result) {
  int64_t heads = kv_heads * group;
  int64_t length = to - from;
  int64_t half = kv_heads * head_dim;  // a slot holds its keys' heads, then its values'
  int64_t row_bytes = half * static_cast<int64_t>(sizeof(float));
  for (int64_t j = from; j < to; j++) {
    if (j + PREFETCH_AHEAD < to) prefetch(cache + slots[j + PREFETCH_AHEAD] * 2 * half, row_bytes);
    float m = mask == nullptr ? 0.0f : mask[j];
    if (m == -INFINITY) {
      for (int64_t h = 0; h < heads; h++) scores[h * length + (j - from)] = -INFINITY;
      continue;
    }
    const float* keys = cache + slots[j] * 2 * half;
    for (int64_t kv = 0; kv < kv_heads; kv++) {
      const float* k = keys + kv * head_dim;
      for (int64_t g = 0; g < group; g++) {
        int64_t h = kv * group + g;
        const float* qh = q + h * q_head_stride;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t d = 0; d < head_dim; d++) dot += qh[d] * k[d];
        scores[h * length + (j - from)] = dot + m;
      }
    }
  }
  for (int64_t h = 0; h < heads; h++) {
    float* s = scores + h * length;
    // A NaN score makes the maximum NaN, and so every weight of the head NaN, as libtorch's softmax.
    float max = -INFINITY;
    for (int64_t j = 0; j < length; j++) max = s[j] > max || s[j] != s[j] ? s[j] : max;
    if (max != max) {
      for (int64_t j = 0; j < length; j++) s[j] = max;
    }
    result.maxima[h] = max;
    if (max == -INFINITY) {
      // Every key of this chunk is masked: it weighs nothing (its sum is 0), whatever its maximum.
      for (int64_t j = 0; j < length; j++) s[j] = 0.0f;
    } else {
      for (int64_t j = 0; j < length; j++) s[j] -= max;
      exp_in_place(s, length);
    }
    float sum = 0;
    for (int64_t j = 0; j < length; j++) sum += s[j];
    result.sums[h] = sum;
  }
  std::memset(result.weighted, 0, heads * head_dim * sizeof(float));
  for (int64_t j = from; j < to; j++) {
    if (j + PREFETCH_AHEAD < to) prefetch(cache + slots[j + PREFETCH_AHEAD] * 2 * half + half, row_bytes);
    // A masked key weighs exactly 0; skipping its value also keeps whatever a row past the context
    // holds (NaN, after an overflow in a block's previous owner) out of the sum.
    if (mask != nullptr && mask[j] == -INFINITY) continue;
    const float* values = cache + slots[j] * 2 * half + half;
    for (int64_t kv = 0; kv < kv_heads; kv++) {
      const float* v = values + kv * head_dim;
      for (int64_t g = 0; g < group; g++) {
        int64_t h = kv * group + g;
        float p = scores[h * length + (j - from)];
        float* o = result.weighted + h * head_dim;
#pragma omp simd
        for (int64_t d = 0; d < head_dim; d++) o[d] += p * v[d];
      }
    }
  }
}

// One call's work: each sequence's context in `chunks` chunks, every (sequence, chunk) a share; the
// shares are spread over the threads, then each sequence's chunks are merged (combine).
struct DecodeAttention {
  const float* cache;
  const float* queries;
  int64_t q_sequence_stride;
  int64_t q_head_stride;
  const int64_t* slots;
  const float* masks;
  int64_t b, kv_heads, group, head_dim, length, chunks;
  float* out;
  std::vector<float> scores;   // per thread: heads * the longest chunk
  std::vector<float> partials; // per share: maxima, sums, weighted values
  int threads;

  int64_t heads() const { return kv_heads * group; }
  int64_t chunk_length() const { return (length + chunks - 1) / chunks; }
  int64_t partial_floats() const { return heads() * (2 + head_dim); }

  ChunkResult partial(int64_t share) {
    float* base = partials.data() + share * partial_floats();
    return ChunkResult{base, base + heads(), base + 2 * heads()};
  }

  void run(int thread, int team) {
    int64_t shares = b * chunks;
    int64_t per_thread = (shares + team - 1) / team;
    float* own_scores = scores.data() + static_cast<int64_t>(thread) * heads() * chunk_length();
    for (int64_t share = thread * per_thread; share < std::min(shares, (thread + 1) * per_thread); share++) {
      int64_t s = share / chunks;
      int64_t from = (share % chunks) * chunk_length();
      int64_t to = std::min(length, from + chunk_length());
      attend_chunk(cache, kv_heads, group, head_dim, queries + s * q_sequence_stride, q_head_stride, slots + s * length,
                   masks == nullptr ? nullptr : masks + s * length, from, std::max(from, to), own_scores, partial(share));
    }
  }

  // softmax(scores) · values per sequence and query head, from its chunks' maxima, sums and weighted values.
  void combine() {
    for (int64_t s = 0; s < b; s++) {
      for (int64_t h = 0; h < heads(); h++) {
        float max = -INFINITY;
        for (int64_t c = 0; c < chunks; c++) max = std::max(max, partial(s * chunks + c).maxima[h]);
        float* o = out + (s * heads() + h) * head_dim;
        std::memset(o, 0, head_dim * sizeof(float));
        float sum = 0;
        for (int64_t c = 0; c < chunks; c++) {
          ChunkResult r = partial(s * chunks + c);
          if (r.sums[h] == 0.0f) continue;
          float scale = std::exp(r.maxima[h] - max);
          sum += r.sums[h] * scale;
          for (int64_t d = 0; d < head_dim; d++) o[d] += r.weighted[h * head_dim + d] * scale;
        }
        float inverse = 1.0f / sum;
        for (int64_t d = 0; d < head_dim; d++) o[d] *= inverse;
      }
    }
  }

  // A parallel region's body. The team may be smaller than `threads` (nested in another region, or
  // the runtime gave fewer), never larger, so each thread's scores stay its own.
  static void run_share(void* self) {
    auto* work = static_cast<DecodeAttention*>(self);
    int team = std::min(openmp.num_threads(), work->threads);
    int thread = openmp.thread_num();
    if (thread < team) work->run(thread, team);
  }
};

// decode_attention(Tensor cache, Tensor q, Tensor context_slots, Tensor mask, int group) -> Tensor
//   cache: float32 [slots, 2, kvHeads, headDim], one layer's (a slot holds its keys' heads, then its values')
//   q: float32 [b, kvHeads * group, headDim], the last axis dense (the attention scale folded in at load)
//   context_slots: int64 [b * length], the cache slot of each sequence's every context position
//   mask: float32 [b, 1, 1, length], additive (0 or -inf), or empty where every position is visible
// Returns float32 [b, kvHeads * group * headDim].
void decode_attention(StableIValue* stack, uint64_t, uint64_t) {
  TensorArgument cache(stack[0]), q(stack[1]), context_slots(stack[2]), mask(stack[3]);
  int64_t group = static_cast<int64_t>(stack[4]);
  require(cache.dtype() == FLOAT32 && q.dtype() == FLOAT32, "the cache and queries must be float32");
  require(cache.device_type() == CPU && q.device_type() == CPU && context_slots.device_type() == CPU && mask.device_type() == CPU,
          "every tensor must be on the CPU");
  require(cache.dim() == 4 && cache.size(1) == 2, "the cache must be [slots, 2, kvHeads, headDim]");
  int64_t cache_slots = cache.size(0);
  int64_t kv_heads = cache.size(2);
  int64_t head_dim = cache.size(3);
  require(cache.stride(3) == 1 && cache.stride(2) == head_dim && cache.stride(1) == kv_heads * head_dim
              && cache.stride(0) == 2 * kv_heads * head_dim, "the cache must be dense");
  require(group > 0, "group must be positive");
  require(q.dim() == 3 && q.size(1) == kv_heads * group && q.size(2) == head_dim && q.stride(2) == 1,
          "q must be [b, kvHeads * group, headDim], its last axis dense");
  int64_t b = q.size(0);
  require(context_slots.dtype() == INT64 && context_slots.dim() == 1 && context_slots.stride(0) == 1, "context_slots must be dense int64");
  int64_t positions = context_slots.size(0);
  require(b > 0 && positions > 0 && positions % b == 0, "context_slots is not [b * length]");
  int64_t length = positions / b;
  bool masked = mask.numel() > 0;
  require(!masked || (mask.dtype() == FLOAT32 && mask.dim() == 4 && mask.size(0) == b && mask.size(1) == 1 && mask.size(2) == 1
                      && mask.size(3) == length && mask.stride(3) == 1 && mask.stride(0) == length),
          "the mask must be a dense float32 [b, 1, 1, length]");
  const int64_t* slots = context_slots.data<int64_t>();
  for (int64_t i = 0; i < positions; i++) require(slots[i] >= 0 && slots[i] < cache_slots, "a context slot lies outside the cache");

  DecodeAttention work{cache.data<float>(), q.data<float>(), q.stride(0), q.stride(1), slots, masked ? mask.data<float>() : nullptr,
                       b, kv_heads, group, head_dim, length, 1, nullptr, {}, {}, 1};
  // Below about 2^16 multiply-adds (a 64-wide head's group of 3 over 340 keys) a parallel region's
  // hand-off costs more than it saves. With fewer sequences than twice the threads, each
  // sequence's context is split into chunks (of 64 positions at least) so that every thread has
  // some; and chunks hold 4,096 positions at most, which bounds each thread's scores.
  bool parallel = openmp.parallel != nullptr && b * kv_heads * length * group * head_dim >= (1 << 16);
  work.threads = parallel ? std::max(1, openmp.max_threads()) : 1;
  int64_t wanted = parallel ? (2 * work.threads + b - 1) / b : 1;
  work.chunks = std::max<int64_t>({1, std::min(wanted, length / 64), (length + MAX_CHUNK - 1) / MAX_CHUNK});
  parallel = parallel && work.threads > 1 && b * work.chunks > 1;
  work.scores.resize(static_cast<size_t>(work.threads * work.heads() * work.chunk_length()));
  work.partials.resize(static_cast<size_t>(b * work.chunks * work.partial_floats()));
  // Allocated last: nothing can throw between here and its handing over.
  int64_t width = kv_heads * group * head_dim;
  int64_t sizes[2] = {b, width};
  int64_t strides[2] = {width, 1};
  AtenTensorHandle result;
  require(abi.empty_strided(2, sizes, strides, FLOAT32, CPU, 0, &result) == 0, "the output could not be allocated");
  void* out;
  abi.get_data_ptr(result, &out);
  work.out = static_cast<float*>(out);
  if (parallel) {
    openmp.parallel(DecodeAttention::run_share, &work, 0, 0);
  } else {
    work.run(0, 1);
  }
  work.combine();
  stack[0] = reinterpret_cast<StableIValue>(result);
}

template <typename F> bool bind(void* library, const char* name, F& function) {
  function = reinterpret_cast<F>(dlsym(library, name));
  return function != nullptr;
}

}  // namespace

// Registers the operators with the libtorch already in the process, once. Returns null, or why not.
extern "C" __attribute__((visibility("default"))) const char* spillway_register_operators() {
  void* torch = dlopen("libtorch_cpu.so", RTLD_NOLOAD | RTLD_LAZY);
  if (torch == nullptr) return "libtorch_cpu.so is not loaded in this process";
  bool bound = bind(torch, "aoti_torch_get_data_ptr", abi.get_data_ptr) && bind(torch, "aoti_torch_get_sizes", abi.get_sizes)
      && bind(torch, "aoti_torch_get_strides", abi.get_strides) && bind(torch, "aoti_torch_get_dim", abi.get_dim)
      && bind(torch, "aoti_torch_get_dtype", abi.get_dtype) && bind(torch, "aoti_torch_get_device_type", abi.get_device_type)
      && bind(torch, "aoti_torch_empty_strided", abi.empty_strided)
      && bind(torch, "aoti_torch_delete_tensor_object", abi.delete_tensor_object)
      && bind(torch, "aoti_torch_library_init_fragment", abi.library_init_fragment)
      && bind(torch, "aoti_torch_library_init_impl", abi.library_init_impl)
      && bind(torch, "aoti_torch_library_def", abi.library_def) && bind(torch, "aoti_torch_library_impl", abi.library_impl);
  // Optional: without libtorch's OpenMP (another threading backend), operators run on the calling thread.
  if (!(bind(torch, "GOMP_parallel", openmp.parallel) && bind(torch, "omp_get_max_threads", openmp.max_threads)
        && bind(torch, "omp_get_thread_num", openmp.thread_num) && bind(torch, "omp_get_num_threads", openmp.num_threads))) {
    openmp = OpenMp{};
  }
  dlclose(torch);
  if (!bound) return "this libtorch does not export the stable operator ABI (libtorch 2.7 or later does)";
  // The library objects are never deleted: deleting one would unregister its operators.
  TorchLibraryHandle definitions;
  TorchLibraryHandle implementations;
  if (abi.library_init_fragment("spillway", __FILE__, __LINE__, &definitions) != 0
      || abi.library_def(definitions, "decode_attention(Tensor cache, Tensor q, Tensor context_slots, Tensor mask, int group) -> Tensor") != 0
      || abi.library_init_impl("spillway", "CPU", __FILE__, __LINE__, &implementations) != 0
      || abi.library_impl(implementations, "decode_attention", decode_attention) != 0) {
    return "libtorch refused to register spillway::decode_attention";
  }
  return nullptr;
}

// Whether the operators spread their work over libtorch's OpenMP threads (1) or run on the calling
// thread (0: this libtorch links no libgomp). Meaningful after registration.
extern "C" __attribute__((visibility("default"))) int spillway_operators_parallel() {
  return openmp.parallel != nullptr;
}
