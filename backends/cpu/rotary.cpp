// Rotary position embeddings: every row's pairs rotated in one pass over x, where the composite
// form makes a pass (and a temporary) per narrow, product, sum and cat, forward and backward.
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

void rotary(const Tensor& out, const Tensor& x, const Tensor& cos, const Tensor& sin,
            bool interleaved, bool inverse) {
  const int64_t positions = x.size(1), d = x.size(2), half = cos.size(1);
  const int64_t rows = x.size(0) * positions;
  dispatch_floating(x.dtype(), "rotary", [&]<class T>() {
    const T* xp = x.data_ptr<T>();
    const T* cp = cos.data_ptr<T>();
    const T* sp = sin.data_ptr<T>();
    T* op = out.data_ptr<T>();
    // Negating sin is exact, so the inverse is the rotation by exactly the opposite angle.
    const T sign = inverse ? T(-1) : T(1);
    const int64_t grain = std::max<int64_t>(1, kGrainSize / std::max<int64_t>(d, 1));
    parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const T* xr = xp + row * d;
        T* orow = op + row * d;
        const T* c = cp + (row % positions) * half;
        const T* s = sp + (row % positions) * half;
        if (!interleaved) {
          const T* xb = xr + half;
          T* ob = orow + half;
          for (int64_t i = 0; i < half; ++i) {
            const T a = xr[i], b = xb[i], si = sign * s[i];
            orow[i] = a * c[i] - b * si;
            ob[i] = b * c[i] + a * si;
          }
        } else {
          for (int64_t i = 0; i < half; ++i) {
            const T a = xr[2 * i], b = xr[2 * i + 1], si = sign * s[i];
            orow[2 * i] = a * c[i] - b * si;
            orow[2 * i + 1] = b * c[i] + a * si;
          }
        }
        std::copy(xr + 2 * half, xr + d, orow + 2 * half);
      }
    });
  });
}

}  // namespace mixgrad::cpu
