// N-API glue: every kernel takes the wasm heap (an ArrayBuffer) plus byte offsets, so tfjs's wasm
// backend keeps owning all tensor memory and nothing is copied between JavaScript and C++.
#include <omp.h>
#include <cmath>
#include <functional>
#include "common.h"

namespace rn {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

namespace {
int gThreads = 1;
double gGrain = 1 << 22;
}  // namespace

int threadsFor(double work) { return work < gGrain ? 1 : gThreads; }
void setThreads(int n) { gThreads = n; }
int threads() { return gThreads; }
void setGrain(double work) { gGrain = work; }
double grain() { return gGrain; }
ThreadScope::ThreadScope(int n) : previous(omp_get_max_threads()) { omp_set_num_threads(n); }
ThreadScope::~ThreadScope() { omp_set_num_threads(previous); }

Args::Args(napi_env e, napi_callback_info info, size_t expected) : env(e) {
  size_t argc = expected + 1;
  std::vector<napi_value> argv(argc);
  if (napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr) != napi_ok) throw std::runtime_error("napi_get_cb_info failed");
  if (argc != expected + 1) {
    throw RangeError("expected " + std::to_string(expected + 1) + " arguments (heap, " + std::to_string(expected) +
                     " numbers), got " + std::to_string(argc));
  }
  bool isBuffer = false;
  napi_is_arraybuffer(env, argv[0], &isBuffer);
  if (!isBuffer) throw RangeError("argument 0 must be the wasm heap's ArrayBuffer");
  void* data = nullptr;
  napi_get_arraybuffer_info(env, argv[0], &data, &heapBytes_);
  heap_ = static_cast<uint8_t*>(data);
  for (size_t k = 1; k < argc; k++) {
    double v = 0;
    if (napi_get_value_double(env, argv[k], &v) != napi_ok) throw RangeError("argument " + std::to_string(k) + " must be a number");
    dbl_.push_back(v);
    nums_.push_back(static_cast<int64_t>(std::llround(v)));
  }
}

float* Args::f32(size_t k, int64_t count, bool optional) const {
  if (i(k) == -1 && optional) return nullptr;
  return static_cast<float*>(bytes(k, 4 * count));
}

void* Args::bytes(size_t k, int64_t count) const {
  int64_t off = i(k);
  if (off < 0 || (off & 3) != 0 || count < 0 || static_cast<uint64_t>(off) + static_cast<uint64_t>(count) > heapBytes_) {
    throw RangeError("pointer argument " + std::to_string(k + 1) + " (offset " + std::to_string(off) + ", " +
                     std::to_string(count) + " bytes) lies outside the " + std::to_string(heapBytes_) + "-byte heap");
  }
  return heap_ + off;
}

}  // namespace rn

namespace {

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value str(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.c_str(), s.size(), &v);
  return v;
}

// Runs f and turns C++/oneDNN exceptions into JavaScript errors (a dnnl::error names the status).
napi_value guarded(napi_env env, const std::function<napi_value()>& f) {
  try {
    return f();
  } catch (const rn::RangeError& e) {
    napi_throw_range_error(env, nullptr, e.what());
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what() + " (status " + std::to_string(e.status) + ")").c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

template <void (*K)(const rn::Args&), size_t N>
napi_value kernel(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    rn::Args a(env, info, N);
    K(a);
    return undefined(env);
  });
}

// The single argument of a setter, or a RangeError naming the call.
napi_value oneArg(napi_env env, napi_callback_info info, const char* usage) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 1) throw rn::RangeError(usage);
  return argv[0];
}

napi_value setThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* usage = "setThreads(n) needs a whole number from 1 to 1024";
    int32_t n = 0;
    if (napi_get_value_int32(env, oneArg(env, info, usage), &n) != napi_ok || n < 1 || n > 1024) throw rn::RangeError(usage);
    rn::setThreads(n);
    omp_set_num_threads(n);
    return undefined(env);
  });
}

napi_value threads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, rn::threads(), &v);
  return v;
}

napi_value setGrain(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* usage = "setGrain(work) needs a number ≥ 0";
    double g = -1;
    if (napi_get_value_double(env, oneArg(env, info, usage), &g) != napi_ok || !(g >= 0)) throw rn::RangeError(usage);
    rn::setGrain(g);
    return undefined(env);
  });
}

napi_value setLayout(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const char* usage = "setLayout(layout) needs a string";
    char buf[32] = {0};
    size_t len = 0;
    if (napi_get_value_string_utf8(env, oneArg(env, info, usage), buf, sizeof buf, &len) != napi_ok) throw rn::RangeError(usage);
    rn::setLayout(std::string(buf, len));
    return undefined(env);
  });
}

napi_value layout(napi_env env, napi_callback_info) { return str(env, rn::layout()); }

napi_value implementations(napi_env env, napi_callback_info) {
  return guarded(env, [&] { return str(env, rn::convImplementations()); });
}

// (rows, c, epsilon): bytes of the ReLU mask that bnReluTrain writes and bnReluGrad reads.
napi_value bnReluWorkspaceBytes(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    size_t argc = 3;
    napi_value argv[3];
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    double d[3] = {0, 0, 0};
    for (size_t k = 0; k < 3; k++) {
      if (argc != 3 || napi_get_value_double(env, argv[k], &d[k]) != napi_ok) {
        throw rn::RangeError("bnReluWorkspaceBytes(rows, c, epsilon) needs three numbers");
      }
    }
    napi_value v;
    napi_create_double(env, static_cast<double>(rn::bnReluWorkspaceBytes(std::llround(d[0]), std::llround(d[1]), static_cast<float>(d[2]))), &v);
    return v;
  });
}

napi_value version(napi_env env, napi_callback_info) {
  const dnnl_version_t* v = dnnl_version();
  return str(env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
                      " (" + (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "other") + ")");
}

napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"convForward", nullptr, kernel<rn::convForward, 18>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardData", nullptr, kernel<rn::convBackwardData, 16>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convBackwardWeights", nullptr, kernel<rn::convBackwardWeights, 17>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnReluTrain", nullptr, kernel<rn::bnReluTrain, 10>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnReluInfer", nullptr, kernel<rn::bnReluInfer, 9>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnReluGrad", nullptr, kernel<rn::bnReluGrad, 12>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bnReluWorkspaceBytes", nullptr, bnReluWorkspaceBytes, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"channelSum", nullptr, kernel<rn::channelSum, 4>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, kernel<rn::adamw, 13>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"add", nullptr, kernel<rn::add, 4>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, setThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"threads", nullptr, threads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setGrain", nullptr, setGrain, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setLayout", nullptr, setLayout, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layout", nullptr, layout, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"implementations", nullptr, implementations, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"version", nullptr, version, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
