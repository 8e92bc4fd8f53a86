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
Scratch gZeros;

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

Bn& trainPrim(int64_t rows, int64_t c, float eps) {
  return cached(key("train", rows, c, eps), [&] {
    auto p = std::make_unique<Bn>();
    p->fwdPd = fwdPd(dnnl::prop_kind::forward_training, rows, c, eps, flags::use_scale | flags::use_shift | flags::fuse_norm_relu);
    p->prim = dnnl::batch_normalization_forward(p->fwdPd);
    p->data = dataMd(rows, c);
    p->stat = memory::desc({c}, f32, tag::a);
    return p;
  });
}

// Forward batch norm + ReLU. Training: batch statistics written to mean/var and oneDNN's ReLU mask
// to ws (the backward pass reads it instead of the output). Inference: the given (moving) statistics.
void bnReluForward(bool training, int64_t rows, int64_t c, float eps, float* x, float* gamma, float* beta, float* mean,
                   float* var, float* r, void* ws) {
  ThreadScope threads(nthr(rows, c));
  Bn& b = training ? trainPrim(rows, c, eps) : cached(key("infer", rows, c, eps), [&] {
    auto p = std::make_unique<Bn>();
    auto f = flags::use_scale | flags::use_shift | flags::fuse_norm_relu | flags::use_global_stats;
    p->fwdPd = fwdPd(dnnl::prop_kind::forward_inference, rows, c, eps, f);
    p->prim = dnnl::batch_normalization_forward(p->fwdPd);
    p->data = dataMd(rows, c);
    p->stat = memory::desc({c}, f32, tag::a);
    return p;
  });
  auto e = engine();
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(b.data, e, x)},       {DNNL_ARG_DST, memory(b.data, e, r)},
                                       {DNNL_ARG_SCALE, memory(b.stat, e, gamma)}, {DNNL_ARG_SHIFT, memory(b.stat, e, beta)},
                                       {DNNL_ARG_MEAN, memory(b.stat, e, mean)},   {DNNL_ARG_VARIANCE, memory(b.stat, e, var)}};
  if (training) args.emplace(DNNL_ARG_WORKSPACE, memory(b.fwdPd.workspace_desc(), e, ws));
  b.prim.execute(stream(), args);
  stream().wait();
}

}  // namespace

int64_t bnReluWorkspaceBytes(int64_t rows, int64_t c, float eps) {
  checkDims(rows, c);
  ThreadScope threads(nthr(rows, c));
  return static_cast<int64_t>(trainPrim(rows, c, eps).fwdPd.workspace_desc().get_size());
}

// (x, gamma, beta, r, mean, variance, ws, rows, c, eps): r = relu(γ·(x−μ)/√(σ²+ε)+β) with batch μ, σ²
// (biased); ws (bnReluWorkspaceBytes long) receives the ReLU mask for bnReluGrad.
void bnReluTrain(const Args& a) {
  int64_t rows = a.i(7), c = a.i(8);
  float eps = static_cast<float>(a.d(9));
  checkDims(rows, c);
  void* ws = a.bytes(6, bnReluWorkspaceBytes(rows, c, eps));
  bnReluForward(true, rows, c, eps, a.f32(0, rows * c), a.f32(1, c), a.f32(2, c), a.f32(4, c), a.f32(5, c), a.f32(3, rows * c), ws);
}

// (x, gamma, beta, mean, variance, r, rows, c, eps): inference mode with the given (moving) statistics.
void bnReluInfer(const Args& a) {
  int64_t rows = a.i(6), c = a.i(7);
  checkDims(rows, c);
  bnReluForward(false, rows, c, static_cast<float>(a.d(8)), a.f32(0, rows * c), a.f32(1, c), a.f32(2, c), a.f32(3, c),
                a.f32(4, c), a.f32(5, rows * c), nullptr);
}

// (dr, ws, x, gamma, mean, variance, dx, dGamma, dBeta, rows, c, eps). oneDNN's fused backward reads
// the ReLU mask from the forward's workspace: no separate masking pass over dr and the output (that
// pass was a third of this kernel's memory traffic).
void bnReluGrad(const Args& a) {
  int64_t rows = a.i(9), c = a.i(10);
  checkDims(rows, c);
  float eps = static_cast<float>(a.d(11));
  int64_t n = rows * c;
  void* ws = a.bytes(1, bnReluWorkspaceBytes(rows, c, eps));
  ThreadScope threads(nthr(rows, c));
  Bn& b = cached(key("grad", rows, c, eps), [&] {
    auto p = std::make_unique<Bn>();
    auto f = flags::use_scale | flags::use_shift | flags::fuse_norm_relu;
    p->fwdPd = trainPrim(rows, c, eps).fwdPd;
    dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, dataMd(rows, c), dataMd(rows, c), eps, f);
    p->prim = dnnl::batch_normalization_backward(dnnl::batch_normalization_backward::primitive_desc(d, engine(), p->fwdPd));
    p->data = dataMd(rows, c);
    p->stat = memory::desc({c}, f32, tag::a);
    return p;
  });
  auto e = engine();
  // The backward pass does not use β, but oneDNN 2.6 checks that a SHIFT argument is given.
  float* zeros = gZeros.get(c * sizeof(float));
  std::fill(zeros, zeros + c, 0.f);
  b.prim.execute(stream(), {{DNNL_ARG_SRC, memory(b.data, e, a.f32(2, n))},
                            {DNNL_ARG_DIFF_DST, memory(b.data, e, a.f32(0, n))},
                            {DNNL_ARG_WORKSPACE, memory(b.fwdPd.workspace_desc(), e, ws)},
                            {DNNL_ARG_SCALE, memory(b.stat, e, a.f32(3, c))},
                            {DNNL_ARG_SHIFT, memory(b.stat, e, zeros)},
                            {DNNL_ARG_MEAN, memory(b.stat, e, a.f32(4, c))},
                            {DNNL_ARG_VARIANCE, memory(b.stat, e, a.f32(5, c))},
                            {DNNL_ARG_DIFF_SRC, memory(b.data, e, a.f32(6, n))},
                            {DNNL_ARG_DIFF_SCALE, memory(b.stat, e, a.f32(7, c))},
                            {DNNL_ARG_DIFF_SHIFT, memory(b.stat, e, a.f32(8, c))}});
  stream().wait();
}

}  // namespace rn
