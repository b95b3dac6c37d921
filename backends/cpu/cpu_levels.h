#pragma once
// Hot loops built for more than the baseline instruction set, chosen by the CPU at start.

// The library is built for the x86-64 baseline (SSE2), so that it runs on any x86-64 machine; a
// function marked with this is also built for x86-64-v3 (AVX2, FMA) and v4 (AVX-512), and the
// best one the CPU has is chosen as the program starts (GCC's target_clones, an ifunc). The
// functions it inlines are built for each level too. The element-wise, optimizer and random
// kernels are compiled with -ffp-contract=off (no a*b+c becomes an FMA), so every level computes
// the same bits there; the product-like ones (conv, winograd, attention) keep their FMAs
// (CMakeLists.txt says why).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MIXGRAD_CPU_LEVEL_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MIXGRAD_CPU_LEVEL_CLONES
#endif
