// Shared by the addon's parts: the oneDNN engine/stream and the N-API argument reader.
#pragma once
#include <node_api.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace rn {

dnnl::engine& engine();
dnnl::stream& stream();

// A RangeError that the N-API wrapper turns into a JavaScript RangeError.
struct RangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Arguments of one call: argv[0] is the wasm heap's ArrayBuffer (fetched fresh by the caller on every
// call, because memory growth detaches the old one); the rest are whole numbers: byte offsets into
// the heap (-1 = absent) and sizes. f32() bounds-checks every pointer against the heap's length.
class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected);
  int64_t i(size_t k) const { return nums_.at(k); }
  double d(size_t k) const { return dbl_.at(k); }
  // A float pointer at byte offset i(k) with room for `count` floats; nullptr when i(k) == -1 and optional.
  float* f32(size_t k, int64_t count, bool optional = false) const;
  // Raw bytes at byte offset i(k), `count` long (a primitive's workspace kept in a tfjs tensor).
  void* bytes(size_t k, int64_t count) const;
  napi_env env;

 private:
  uint8_t* heap_ = nullptr;
  size_t heapBytes_ = 0;
  std::vector<int64_t> nums_;
  std::vector<double> dbl_;
};

// Scratch memory that lives as long as the process (primitives of one shape reuse theirs).
struct Scratch {
  std::vector<float> data;
  float* get(size_t bytes) {
    size_t n = (bytes + sizeof(float) - 1) / sizeof(float);
    if (data.size() < n) data.resize(n);
    return data.data();
  }
};

// Thread count for a piece of work: every thread (setThreads) when it is worth it, else 1. Below the
// grain, waking a second thread costs more than it saves, and on a busy machine each OpenMP/oneDNN
// barrier waits for a thread the kernel has descheduled: a tiny model ran 14x slower on 2 threads.
int threadsFor(double work);
void setThreads(int n);
int threads();
void setGrain(double work);
double grain();

// Makes `n` the OpenMP thread count while it lives (oneDNN sizes its primitives from it at creation
// and uses it again at execution).
struct ThreadScope {
  explicit ThreadScope(int n);
  ~ThreadScope();
  int previous;
};

// Entry points (conv.cc, bnorm.cc, elementwise.cc); each returns undefined or throws.
void convForward(const Args& a);
void convBackwardData(const Args& a);
void convBackwardWeights(const Args& a);
void bnReluTrain(const Args& a);
void bnReluInfer(const Args& a);
void bnReluGrad(const Args& a);
int64_t bnReluWorkspaceBytes(int64_t rows, int64_t c, float eps);
void channelSum(const Args& a);
void adamw(const Args& a);
void add(const Args& a);
std::string convImplementations();
void setLayout(const std::string& layout);
std::string layout();

}  // namespace rn
