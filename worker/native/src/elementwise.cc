// The memory-bound ops around the convolutions, on both cores (OpenMP: the same thread pool as
// oneDNN's). After the convolutions got fast these were what the profile showed next (Amdahl).
#include <omp.h>
#include <algorithm>
#include <cmath>
#include "common.h"

namespace rn {

// (x, rows, c, out): out[j] = Σ_r x[r·c + j] (bias and batch-norm gradients; Sum over leading axes).
void channelSum(const Args& a) {
  int64_t rows = a.i(1), c = a.i(2);
  if (rows < 1 || c < 1) throw RangeError("channelSum needs rows ≥ 1 and c ≥ 1");
  const float* x = a.f32(0, rows * c);
  float* out = a.f32(3, c);
  int nt = threadsFor(2.0 * rows * c);
  std::vector<double> partial(static_cast<size_t>(nt) * c, 0.0);
#pragma omp parallel num_threads(nt)
  {
    double* acc = partial.data() + static_cast<size_t>(omp_get_thread_num()) * c;
    std::vector<float> block(c);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < (rows + 63) / 64; b++) {
      // Float sums of 64 rows, then into double: vectorised and still accurate for 10⁵ rows.
      std::fill(block.begin(), block.end(), 0.f);
      int64_t end = std::min(rows, (b + 1) * 64);
      for (int64_t r = b * 64; r < end; r++) {
        const float* row = x + r * c;
        for (int64_t j = 0; j < c; j++) block[j] += row[j];
      }
      for (int64_t j = 0; j < c; j++) acc[j] += block[j];
    }
  }
  for (int64_t j = 0; j < c; j++) {
    double s = 0;
    for (int t = 0; t < nt; t++) s += partial[static_cast<size_t>(t) * c + j];
    out[j] = static_cast<float>(s);
  }
}

// (a, b, out, count): out = a + b.
void add(const Args& a) {
  int64_t n = a.i(3);
  const float* x = a.f32(0, n);
  const float* y = a.f32(1, n);
  float* out = a.f32(2, n);
#pragma omp parallel for schedule(static) num_threads(threadsFor(8.0 * n))
  for (int64_t k = 0; k < n; k++) out[k] = x[k] + y[k];
}

// (w, g, m, v, wOut, mOut, vOut, count, decay, beta1, beta2, alpha, eps): Keras AdamW for one variable,
// in the order and float32 arithmetic of worker/train/adamw.ts:
//   w ← w − decay·w;  m ← m + (g−m)(1−β1);  v ← v + (g²−v)(1−β2);  w ← w − α·m/(√v + ε)
void adamw(const Args& a) {
  int64_t n = a.i(7);
  const float* w = a.f32(0, n);
  const float* g = a.f32(1, n);
  const float* m = a.f32(2, n);
  const float* v = a.f32(3, n);
  float* wOut = a.f32(4, n);
  float* mOut = a.f32(5, n);
  float* vOut = a.f32(6, n);
  float decay = static_cast<float>(a.d(8));
  float b1 = static_cast<float>(1 - a.d(9)), b2 = static_cast<float>(1 - a.d(10));
  float alpha = static_cast<float>(a.d(11)), eps = static_cast<float>(a.d(12));
#pragma omp parallel for schedule(static) num_threads(threadsFor(8.0 * n))
  for (int64_t k = 0; k < n; k++) {
    float wk = w[k] - w[k] * decay;
    float gk = g[k];
    float mk = m[k] + (gk - m[k]) * b1;
    float vk = v[k] + (gk * gk - v[k]) * b2;
    mOut[k] = mk;
    vOut[k] = vk;
    wOut[k] = wk - (mk * alpha) / (std::sqrt(vk) + eps);
  }
}

}  // namespace rn
