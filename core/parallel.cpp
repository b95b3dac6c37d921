#include "core/parallel.h"

#include "core/error.h"

namespace mixgrad {

void set_num_threads(int n) {
  MG_CHECK(n >= 1, "set_num_threads", "expected at least 1 thread, got ", n);
  pool::set_pool_threads(n);
}

int get_num_threads() {
  return pool::pool_threads();
}

}  // namespace mixgrad
