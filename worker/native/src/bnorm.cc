// Batch normalization + ReLU over channels-last data viewed as [rows, C] (rows = N·H·W), on oneDNN's
// batch_normalization primitives (nspc layout: tfjs's NHWC tensors are read in place).
#include <algorithm>
#include <functional>
#include <map>
#include <unordered_map>
#include <memory>
#include <sstream>
#include "common.h"

namespace rn {
namespace {

using dnnl::memory;
using flags = dnnl::normalization_flags;
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

struct Bn {
  dnnl::batch_normalization_forward::primitive_desc fwdPd;
  dnnl::primitive prim;
  memory::desc data, stat;
};

std::map<std::string, std::unique_ptr<Bn>> gCache;
Scratch gWorkspace, gDy, gZeros;

// Batch norm reads and writes each element a few times: work ≈ 8 operations per element.
int nthr(int64_t rows, int64_t c) { return threadsFor(8.0 * rows * c); }

std::string key(const char* kind, int64_t rows, int64_t c, float eps) {
  std::ostringstream s;
  s << kind << ':' << nthr(rows, c) << ':' << rows << ',' << c << ',' << eps;
  return s.str();
}

memory::desc dataMd(int64_t rows, int64_t c) { return memory::desc({rows, c, 1, 1}, f32, tag::nhwc); }

dnnl::batch_normalization_forward::primitive_desc fwdPd(dnnl::prop_kind pk, int64_t rows, int64_t c, float eps, flags f) {
  dnnl::batch_normalization_forward::desc d(pk, dataMd(rows, c), eps, f);
  return dnnl::batch_normalization_forward::primitive_desc(d, engine());
}

Bn& cached(const std::string& k, const std::function<std::unique_ptr<Bn>()>& make) {
  auto it = gCache.find(k);
  if (it != gCache.end()) return *it->second;
  auto p = make();
  auto& ref = *p;
  gCache.emplace(k, std::move(p));
  return ref;
}

void checkDims(int64_t rows, int64_t c) {
  if (rows < 1 || c < 1) throw RangeError("batch norm needs rows ≥ 1 and channels ≥ 1, got " + std::to_string(rows) + "×" + std::to_string(c));
}

}  // namespace

namespace {

// Forward batch norm + ReLU. Training: batch statistics written to mean/var (oneDNN's ReLU workspace
// goes to scratch). Inference: the given (moving) statistics are read.
void bnReluForward(bool training, int64_t rows, int64_t c, float eps, float* x, float* gamma, float* beta, float* mean,
                   float* var, float* r) {
  ThreadScope threads(nthr(rows, c));
  auto pk = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  auto f = flags::use_scale | flags::use_shift | flags::fuse_norm_relu;
  if (!training) f = f | flags::use_global_stats;
  Bn& b = cached(key(training ? "train" : "infer", rows, c, eps), [&] {
    auto p = std::make_unique<Bn>();
    p->fwdPd = fwdPd(pk, rows, c, eps, f);
    p->prim = dnnl::batch_normalization_forward(p->fwdPd);
    p->data = dataMd(rows, c);
    p->stat = memory::desc({c}, f32, tag::a);
    return p;
  });
  auto e = engine();
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(b.data, e, x)},       {DNNL_ARG_DST, memory(b.data, e, r)},
                                       {DNNL_ARG_SCALE, memory(b.stat, e, gamma)}, {DNNL_ARG_SHIFT, memory(b.stat, e, beta)},
                                       {DNNL_ARG_MEAN, memory(b.stat, e, mean)},   {DNNL_ARG_VARIANCE, memory(b.stat, e, var)}};
  if (training) {
    auto ws = b.fwdPd.workspace_desc();
    args.emplace(DNNL_ARG_WORKSPACE, memory(ws, e, gWorkspace.get(ws.get_size())));
  }
  b.prim.execute(stream(), args);
  stream().wait();
}

}  // namespace

// (x, gamma, beta, r, mean, variance, rows, c, eps): r = relu(γ·(x−μ)/√(σ²+ε)+β) with batch μ, σ² (biased).
void bnReluTrain(const Args& a) {
  int64_t rows = a.i(6), c = a.i(7);
  checkDims(rows, c);
  bnReluForward(true, rows, c, static_cast<float>(a.d(8)), a.f32(0, rows * c), a.f32(1, c), a.f32(2, c), a.f32(4, c),
                a.f32(5, c), a.f32(3, rows * c));
}

// (x, gamma, beta, mean, variance, r, rows, c, eps): inference mode with the given (moving) statistics.
void bnReluInfer(const Args& a) {
  int64_t rows = a.i(6), c = a.i(7);
  checkDims(rows, c);
  bnReluForward(false, rows, c, static_cast<float>(a.d(8)), a.f32(0, rows * c), a.f32(1, c), a.f32(2, c), a.f32(3, c),
                a.f32(4, c), a.f32(5, rows * c));
}

// (dr, r, x, gamma, mean, variance, dx, dGamma, dBeta, rows, c, eps). The ReLU's mask comes from the
// saved output (r > 0) rather than oneDNN's workspace, so the tfjs op keeps its three outputs; the
// masked gradient then goes through oneDNN's batch-norm backward.
void bnReluGrad(const Args& a) {
  int64_t rows = a.i(9), c = a.i(10);
  ThreadScope threads(nthr(rows, c));
  float eps = static_cast<float>(a.d(11));
  checkDims(rows, c);
  int64_t n = rows * c;
  const float* dr = a.f32(0, n);
  const float* r = a.f32(1, n);
  float* x = a.f32(2, n);
  float* gamma = a.f32(3, c);
  float* mean = a.f32(4, c);
  float* var = a.f32(5, c);
  float* dx = a.f32(6, n);
  float* dGamma = a.f32(7, c);
  float* dBeta = a.f32(8, c);
  Bn& b = cached(key("grad", rows, c, eps), [&] {
    auto p = std::make_unique<Bn>();
    auto f = flags::use_scale | flags::use_shift;
    p->fwdPd = fwdPd(dnnl::prop_kind::forward_training, rows, c, eps, f);
    dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, dataMd(rows, c), dataMd(rows, c), eps, f);
    p->prim = dnnl::batch_normalization_backward(dnnl::batch_normalization_backward::primitive_desc(d, engine(), p->fwdPd));
    p->data = dataMd(rows, c);
    p->stat = memory::desc({c}, f32, tag::a);
    return p;
  });
  float* dy = gDy.get(n * sizeof(float));
#pragma omp parallel for schedule(static) num_threads(nthr(rows, c))
  for (int64_t k = 0; k < n; k++) dy[k] = r[k] > 0.f ? dr[k] : 0.f;
  auto e = engine();
  // The backward pass does not use β, but oneDNN 2.6 checks that a SHIFT argument is given.
  float* zeros = gZeros.get(c * sizeof(float));
  std::fill(zeros, zeros + c, 0.f);
  b.prim.execute(stream(), {{DNNL_ARG_SRC, memory(b.data, e, x)},
                            {DNNL_ARG_DIFF_DST, memory(b.data, e, dy)},
                            {DNNL_ARG_SCALE, memory(b.stat, e, gamma)},
                            {DNNL_ARG_SHIFT, memory(b.stat, e, zeros)},
                            {DNNL_ARG_MEAN, memory(b.stat, e, mean)},
                            {DNNL_ARG_VARIANCE, memory(b.stat, e, var)},
                            {DNNL_ARG_DIFF_SRC, memory(b.data, e, dx)},
                            {DNNL_ARG_DIFF_SCALE, memory(b.stat, e, dGamma)},
                            {DNNL_ARG_DIFF_SHIFT, memory(b.stat, e, dBeta)}});
  stream().wait();
}

}  // namespace rn
