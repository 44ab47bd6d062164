// Spillway's own CPU operators, registered with libtorch's dispatcher so that the decoder's
// TorchScript calls them as ops.spillway.*. They are built against libtorch's stable C ABI alone
// (the aoti_torch_* functions every libtorch since 2.7 exports), declared by hand in stable_abi.h
// and looked up here, at registration, in the libtorch_cpu.so that DJL has already loaded: no
// libtorch headers (the version DJL runs ships them only in a Python wheel or a libtorch
// download), and no link-time dependency on a library whose path only DJL knows. C++ only for its
// exceptions: one thrown in an operator reaches the TorchScript interpreter, and from there Java,
// as an error naming the operator. Java calls the extern "C" functions below through JNA.

#include <dlfcn.h>

#include "stable_abi.h"

namespace spillway {

StableAbi abi;
OpenMp openmp;

namespace {

template <typename F> bool bind(void* library, const char* name, F& function) {
  function = reinterpret_cast<F>(dlsym(library, name));
  return function != nullptr;
}

}  // namespace
}  // namespace spillway

using namespace spillway;

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
      || abi.library_def(definitions, "int4_linear(Tensor x, Tensor weight, Tensor scale_offsets) -> Tensor") != 0
      || abi.library_def(definitions, "int8_linear(Tensor x, Tensor weight, Tensor scales) -> Tensor") != 0
      || abi.library_def(definitions, "rms_norm(Tensor x, Tensor weight, float eps) -> Tensor") != 0
      || abi.library_def(definitions, "rotate_and_store(Tensor qkv, Tensor cos, Tensor sin, Tensor qk_norm, float eps, Tensor(a!) cache, "
                                      "Tensor write_slots, int heads) -> Tensor") != 0
      || abi.library_def(definitions, "swiglu(Tensor gate_up) -> Tensor") != 0
      || abi.library_init_impl("spillway", "CPU", __FILE__, __LINE__, &implementations) != 0
      || abi.library_impl(implementations, "decode_attention", decode_attention) != 0
      || abi.library_impl(implementations, "int4_linear", int4_linear) != 0
      || abi.library_impl(implementations, "int8_linear", int8_linear) != 0
      || abi.library_impl(implementations, "rms_norm", rms_norm) != 0
      || abi.library_impl(implementations, "rotate_and_store", rotate_and_store) != 0
      || abi.library_impl(implementations, "swiglu", swiglu) != 0) {
    return "libtorch refused to register Spillway's operators";
  }
  return nullptr;
}

// Whether the operators spread their work over libtorch's OpenMP threads (1) or run on the calling
// thread (0: this libtorch links no libgomp). Meaningful after registration.
extern "C" __attribute__((visibility("default"))) int spillway_operators_parallel() {
  return openmp.parallel != nullptr;
}

// Whether this CPU runs spillway::int4_linear and int8_linear (1: it has AVX-512 VNNI) or they refuse (0).
extern "C" __attribute__((visibility("default"))) int spillway_integer_kernels_supported() {
  return integer_kernels_supported();
}
