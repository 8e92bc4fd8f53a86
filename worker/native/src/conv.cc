// Convolutions on NHWC activations and HWIO (tfjs) filters, with primitives cached by shape.
//
// Layout modes (setLayout; chosen by measurement, see BENCHMARKS.md):
//  - "nhwc": activations stay NHWC (oneDNN's nspc kernels read tfjs's tensors in place); filters are
//    given to oneDNN as format_tag::any and reordered from/to HWIO (they are small).
//  - "blocked": everything format_tag::any: activations are reordered to oneDNN's blocked layout
//    (nChw16c) and back on every call, as PyTorch does for NCHW tensors.
//  - "plain": no reorders at all (NHWC + HWIO as given), whatever kernels support that.
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
using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

std::string gLayout = "nhwc";

struct Shape {
  int64_t n, h, w, ci, co, kh, kw, sh, sw, pt, pl, oh, ow;
  // Bottom/right padding that makes the output size come out. It is negative when the last rows of
  // the input are read by no output (a 1×1 stride-2 conv of an even map): oneDNN's size formula floors,
  // so 0 gives the same output size there.
  int64_t pbRaw() const { return (oh - 1) * sh + kh - h - pt; }
  int64_t prRaw() const { return (ow - 1) * sw + kw - w - pl; }
  int64_t pb() const { return std::max<int64_t>(0, pbRaw()); }
  int64_t pr() const { return std::max<int64_t>(0, prRaw()); }
  memory::dims src() const { return {n, ci, h, w}; }
  memory::dims wei() const { return {co, ci, kh, kw}; }
  memory::dims dst() const { return {n, co, oh, ow}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb(), pr()}; }
  double flops() const { return 2.0 * n * oh * ow * co * ci * kh * kw; }
  int nthr() const { return threadsFor(flops()); }
  std::string key() const {
    std::ostringstream s;
    s << 't' << nthr() << ':';
    s << n << ',' << h << ',' << w << ',' << ci << ',' << co << ',' << kh << ',' << kw << ',' << sh << ',' << sw << ',' << pt
      << ',' << pl << ',' << oh << ',' << ow;
    return s.str();
  }
};

Shape shapeAt(const Args& a, size_t k) {
  Shape s{a.i(k), a.i(k + 1), a.i(k + 2), a.i(k + 3), a.i(k + 4), a.i(k + 5), a.i(k + 6),
          a.i(k + 7), a.i(k + 8), a.i(k + 9), a.i(k + 10), a.i(k + 11), a.i(k + 12)};
  if (s.n < 1 || s.h < 1 || s.w < 1 || s.ci < 1 || s.co < 1 || s.kh < 1 || s.kw < 1 || s.sh < 1 || s.sw < 1 || s.oh < 1 ||
      s.ow < 1 || s.pt < 0 || s.pl < 0 || s.pbRaw() <= -s.sh || s.prRaw() <= -s.sw) {
    throw RangeError("convolution shape out of range (negative padding or empty dims): " + s.key());
  }
  return s;
}

// One scratch buffer per role, shared by every primitive: calls run one at a time.
Scratch gScratch[4];

// A tensor as the caller holds it (user) and as the primitive wants it (inner), with the reorder between.
struct Operand {
  memory::desc user, inner;
  bool same = true;
  dnnl::reorder reorder;
  Scratch* buf = nullptr;

  void init(const memory::desc& u, const memory::desc& in, bool isInput, int role) {
    user = u;
    inner = in;
    same = u == in;
    buf = &gScratch[role];
    if (same) return;
    reorder = isInput ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), u, engine(), in))
                      : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), in, engine(), u));
  }
  memory input(float* p) const {
    memory um(user, engine(), p);
    if (same) return um;
    memory im(inner, engine(), buf->get(inner.get_size()));
    run(um, im);
    return im;
  }
  memory output(float* p) const {
    if (same) return memory(user, engine(), p);
    return memory(inner, engine(), buf->get(inner.get_size()));
  }
  void finish(const memory& im, float* p) const {
    if (!same) run(im, memory(user, engine(), p));
  }
  // Filters are small (≤ 150 KiB here): their reorders run on one thread. On a busy host a 2-thread
  // reorder of 64×16 floats took 10–160 ms instead of 5 µs (its barrier waits for a descheduled thread).
  void run(const memory& from, const memory& to) const {
    ThreadScope threads(threadsFor(8.0 * static_cast<double>(inner.get_size() / sizeof(float))));
    reorder.execute(stream(), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
  }
};

struct Prim {
  dnnl::primitive prim;
  Operand a, b, c;  // fwd: src, weights, dst; bwd data: diff_dst, weights, diff_src; bwd weights: src, diff_dst, diff_weights
  bool bias = false;
  std::string impl;
};

std::map<std::string, std::unique_ptr<Prim>> gCache;

memory::desc act(const memory::dims& d) { return memory::desc(d, f32, gLayout == "blocked" ? tag::any : tag::nhwc); }
memory::desc wei(const memory::dims& d) { return memory::desc(d, f32, gLayout == "plain" ? tag::hwio : tag::any); }

dnnl::convolution_forward::primitive_desc forwardPd(const Shape& s, bool bias, int act_) {
  memory::desc biasMd = bias ? memory::desc({s.co}, f32, tag::a) : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, act(s.src()),
                                    wei(s.wei()), biasMd, act(s.dst()), s.strides(), s.padL(), s.padR());
  dnnl::primitive_attr attr;
  if (act_ == 1) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(d, attr, engine());
}

Prim& cached(const std::string& key, const std::function<std::unique_ptr<Prim>()>& make) {
  auto full = gLayout + ":" + key;
  auto it = gCache.find(full);
  if (it != gCache.end()) return *it->second;
  auto p = make();
  auto& ref = *p;
  gCache.emplace(full, std::move(p));
  return ref;
}

memory::desc userAct(const memory::dims& d) { return memory::desc(d, f32, tag::nhwc); }
memory::desc userWei(const memory::dims& d) { return memory::desc(d, f32, tag::hwio); }

}  // namespace

void setLayout(const std::string& l) {
  if (l != "nhwc" && l != "blocked" && l != "plain") throw RangeError("layout must be nhwc, blocked or plain, got " + l);
  gLayout = l;
}
std::string layout() { return gLayout; }

std::string convImplementations() {
  std::ostringstream s;
  for (auto& [k, p] : gCache) s << k << " " << p->impl << "\n";
  return s.str();
}

// (x, w, bias|-1, y, n, h, w, ci, co, kh, kw, sh, sw, pt, pl, oh, ow, activation 0 linear | 1 relu)
void convForward(const Args& a) {
  Shape s = shapeAt(a, 4);
  ThreadScope threads(s.nthr());
  bool bias = a.i(2) != -1;
  int activation = static_cast<int>(a.i(17));
  if (activation != 0 && activation != 1) throw RangeError("activation must be 0 (linear) or 1 (relu)");
  float* x = a.f32(0, s.n * s.h * s.w * s.ci);
  float* w = a.f32(1, s.kh * s.kw * s.ci * s.co);
  float* b = a.f32(2, s.co, true);
  float* y = a.f32(3, s.n * s.oh * s.ow * s.co);
  Prim& p = cached("fwd" + std::to_string(bias) + std::to_string(activation) + ":" + s.key(), [&] {
    auto pd = forwardPd(s, bias, activation);
    auto r = std::make_unique<Prim>();
    r->prim = dnnl::convolution_forward(pd);
    r->a.init(userAct(s.src()), pd.src_desc(), true, 0);
    r->b.init(userWei(s.wei()), pd.weights_desc(), true, 1);
    r->c.init(userAct(s.dst()), pd.dst_desc(), false, 2);
    r->bias = bias;
    r->impl = pd.impl_info_str();
    return r;
  });
  memory src = p.a.input(x), weights = p.b.input(w), dst = p.c.output(y);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(memory::desc({s.co}, f32, tag::a), engine(), b));
  p.prim.execute(stream(), args);
  p.c.finish(dst, y);
  stream().wait();
}

// (dy, w, dx, n, h, w, ci, co, kh, kw, sh, sw, pt, pl, oh, ow)
void convBackwardData(const Args& a) {
  Shape s = shapeAt(a, 3);
  ThreadScope threads(s.nthr());
  float* dy = a.f32(0, s.n * s.oh * s.ow * s.co);
  float* w = a.f32(1, s.kh * s.kw * s.ci * s.co);
  float* dx = a.f32(2, s.n * s.h * s.w * s.ci);
  Prim& p = cached("bwd_data:" + s.key(), [&] {
    auto hint = forwardPd(s, false, 0);
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, act(s.src()), wei(s.wei()), act(s.dst()),
                                            s.strides(), s.padL(), s.padR());
    dnnl::convolution_backward_data::primitive_desc pd(d, engine(), hint);
    auto r = std::make_unique<Prim>();
    r->prim = dnnl::convolution_backward_data(pd);
    r->a.init(userAct(s.dst()), pd.diff_dst_desc(), true, 0);
    r->b.init(userWei(s.wei()), pd.weights_desc(), true, 1);
    r->c.init(userAct(s.src()), pd.diff_src_desc(), false, 2);
    r->impl = pd.impl_info_str();
    return r;
  });
  memory ddst = p.a.input(dy), weights = p.b.input(w), dsrc = p.c.output(dx);
  p.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DIFF_SRC, dsrc}});
  p.c.finish(dsrc, dx);
  stream().wait();
}

// (x, dy, dw, db|-1, n, h, w, ci, co, kh, kw, sh, sw, pt, pl, oh, ow)
void convBackwardWeights(const Args& a) {
  Shape s = shapeAt(a, 4);
  ThreadScope threads(s.nthr());
  bool bias = a.i(3) != -1;
  float* x = a.f32(0, s.n * s.h * s.w * s.ci);
  float* dy = a.f32(1, s.n * s.oh * s.ow * s.co);
  float* dw = a.f32(2, s.kh * s.kw * s.ci * s.co);
  float* db = a.f32(3, s.co, true);
  Prim& p = cached("bwd_weights" + std::to_string(bias) + ":" + s.key(), [&] {
    auto hint = forwardPd(s, bias, 0);
    memory::desc biasMd = bias ? memory::desc({s.co}, f32, tag::a) : memory::desc();
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, act(s.src()), wei(s.wei()), biasMd,
                                               act(s.dst()), s.strides(), s.padL(), s.padR());
    dnnl::convolution_backward_weights::primitive_desc pd(d, engine(), hint);
    auto r = std::make_unique<Prim>();
    r->prim = dnnl::convolution_backward_weights(pd);
    r->a.init(userAct(s.src()), pd.src_desc(), true, 0);
    r->b.init(userAct(s.dst()), pd.diff_dst_desc(), true, 1);
    r->c.init(userWei(s.wei()), pd.diff_weights_desc(), false, 2);
    r->bias = bias;
    r->impl = pd.impl_info_str();
    return r;
  });
  memory src = p.a.input(x), ddst = p.b.input(dy), dwei = p.c.output(dw);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dwei}};
  if (bias) args.emplace(DNNL_ARG_DIFF_BIAS, memory(memory::desc({s.co}, f32, tag::a), engine(), db));
  p.prim.execute(stream(), args);
  p.c.finish(dwei, dw);
  stream().wait();
}

}  // namespace rn
