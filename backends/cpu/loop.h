#pragma once
// The CPU backend's element-wise walker. Given operands viewed with a common shape (broadcast
// dims have stride 0), it walks their StridedPlan and hands the body flat innermost runs:
// body(ptrs, byte_strides, n). A body that checks for unit strides gets a plain loop the compiler
// vectorizes. Work is split across threads by element ranges.
#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "backends/cpu/cpu_levels.h"
#include "backends/cpu/parallel.h"
#include "backends/strided_plan.h"
#include "core/tensor.h"

namespace mixgrad::cpu {

// A view of t's memory (same offset) made without any op: kernels must not record autograd.
inline Tensor raw_view(const Tensor& t, Shape sizes, Shape strides) {
  return alias_with_layout(t, std::move(sizes), std::move(strides), t.storage_offset());
}

template <int N>
class StridedLoop {
 public:
  // operands[0] defines the shape; the others must have that shape (after expand()).
  explicit StridedLoop(const std::array<const Tensor*, N>& operands)
      : plan_(operands), numel_(plan_.numel()) {
    // Nothing to walk; the strides of an empty tensor's other dims may not fit in bytes.
    if (numel_ == 0) return;
    for (int k = 0; k < N; ++k) {
      base_[k] = static_cast<char*>(operands[k]->data_ptr());
      const auto elem = static_cast<int64_t>(operands[k]->element_size());
      plan_.scale(k, elem);
      // A single element (no dims left) is a run of one at unit stride.
      inner_[k] = plan_.ndim() == 0 ? elem : plan_.inner_stride(k);
    }
  }

  int64_t numel() const { return numel_; }

  // body(char* const* ptrs, const int64_t* byte_strides, int64_t n)
  template <class Body>
  void run(Body&& body, int64_t grain = kGrainSize) const {
    if (numel_ == 0) return;
    parallel_for(numel_, grain, [&](int64_t b, int64_t e) { run_range(b, e, body); });
  }

  template <class Body>
  void run_serial(Body&& body) const {
    if (numel_ > 0) run_range(0, numel_, body);
  }

 private:
  template <class Body>
  void run_range(int64_t begin, int64_t end, Body& body) const {
    kernels::StridedWalk<N> walk(plan_, begin);
    std::array<char*, N> p;
    for (int64_t e = begin; e < end;) {
      const int64_t n = std::min(walk.run_left(), end - e);
      for (int k = 0; k < N; ++k) p[k] = base_[k] + walk.offset(k);
      body(p.data(), inner_.data(), n);
      e += n;
      walk.advance(n);
    }
  }

  kernels::StridedPlan<N> plan_;  // byte strides
  std::array<char*, N> base_{};
  std::array<int64_t, N> inner_{};
  int64_t numel_ = 0;
};

// One operand of a run that is the same value at every index (stride 0: a broadcast operand).
template <class T>
struct Repeated {
  T value;
  T operator[](int64_t) const { return value; }
};

// o[i] = f(in[i]...): a run of map_elements with the output at unit stride and each input a
// pointer at unit stride or a Repeated value. For floating operands, where the per-element math
// (GELU's exp and erf approximations, sigmoid, ...) vectorizes, it is built for every CPU level:
// measured on this project's AVX-512 VM, float GELU's loop alone took 4.7 ns per element at the
// baseline's 4 lanes, 1.8 at AVX2's 8 and 1.1 at AVX-512's 16 (mg::gelu as a whole: 6.6 before,
// 0.8 after).
template <class Out, class F, class... Src>
MIXGRAD_CPU_LEVEL_CLONES void map_run_wide(Out* o, F f, int64_t n, Src... in) {
  for (int64_t i = 0; i < n; ++i) o[i] = f(in[i]...);
}

// Calls map_run_wide with a reader for each input from I on: its pointer at unit stride, its one
// value at stride 0 (the caller has checked that every input has one of the two).
template <size_t I, class... In, class Out, class F, class... Readers>
void map_run_with_readers(Out* o, F& f, int64_t n, char* const* p, const int64_t* s,
                          Readers... readers) {
  if constexpr (I == sizeof...(In)) {
    map_run_wide(o, f, n, readers...);
  } else {
    using T = std::tuple_element_t<I, std::tuple<In...>>;
    const T* in = reinterpret_cast<const T*>(p[1 + I]);
    if (s[1 + I] == 0)
      map_run_with_readers<I + 1, In...>(o, f, n, p, s, readers..., Repeated<T>{*in});
    else
      map_run_with_readers<I + 1, In...>(o, f, n, p, s, readers..., in);
  }
}

// Typed element-wise map over operands of one shape: out = f(in...). Unit-stride runs become a
// plain indexed loop (vectorizable); for floating operands, so do runs where broadcast inputs
// (stride 0) are read once per run.
template <class Out, class... In, class F>
void map_elements(const Tensor& out, F f, const auto&... inputs) {
  constexpr int N = 1 + sizeof...(In);
  StridedLoop<N> loop({&out, &inputs...});
  loop.run([&](char* const* p, const int64_t* s, int64_t n) {
    Out* o = reinterpret_cast<Out*>(p[0]);
    if constexpr (std::is_floating_point_v<Out> && (std::is_floating_point_v<In> && ...)) {
      bool wide = s[0] == sizeof(Out);
      int k = 1;
      ((wide = wide && (s[k] == sizeof(In) || s[k] == 0), ++k), ...);
      if (wide) {
        map_run_with_readers<0, In...>(o, f, n, p, s);
        return;
      }
    }
    bool unit = s[0] == sizeof(Out);
    int k = 1;
    ((unit = unit && s[k++] == sizeof(In)), ...);
    if (unit) {
      [&]<size_t... I>(std::index_sequence<I...>) {
        std::tuple<const In*...> in{reinterpret_cast<const In*>(p[1 + I])...};
        for (int64_t i = 0; i < n; ++i) o[i] = f(std::get<I>(in)[i]...);
      }
      (std::index_sequence_for<In...>{});
    } else {
      [&]<size_t... I>(std::index_sequence<I...>) {
        for (int64_t i = 0; i < n; ++i)
          *reinterpret_cast<Out*>(p[0] + i * s[0]) =
              f(*reinterpret_cast<const In*>(p[1 + I] + i * s[1 + I])...);
      }
      (std::index_sequence_for<In...>{});
    }
  });
}

}  // namespace mixgrad::cpu
