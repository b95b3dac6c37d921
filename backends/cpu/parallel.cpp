#include "backends/cpu/parallel.h"

#include "core/error.h"

namespace mixgrad {

void set_num_threads(int n) {
  MG_CHECK(n >= 1, "set_num_threads", "expected at least 1 thread, got ", n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int get_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace mixgrad
