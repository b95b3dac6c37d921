// Training steps must not leak: graphs, saved tensors and gradients are all released.
#include <unistd.h>

#include <fstream>

#include "common/test_util.h"

namespace mg = mixgrad;

namespace {
// Resident set size in bytes (Linux).
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}
}  // namespace

TEST(Memory, ThousandTrainingStepsDoNotGrowResidentMemory) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's quarantine keeps freed memory resident by design";
#endif
  mg::Generator gen(0);
  auto w1 = (mg::randn({32, 64}, {}, &gen) * 0.1).detach().requires_grad_();
  auto b1 = mg::zeros({64}).requires_grad_();
  auto w2 = (mg::randn({64, 8}, {}, &gen) * 0.1).detach().requires_grad_();
  auto x = mg::randn({128, 32}, {}, &gen);
  auto target = mg::randint(0, 8, {128}, {}, &gen);
  auto step = [&] {
    auto h = mg::relu(mg::matmul(x, w1) + b1);
    auto loss = mg::cross_entropy(mg::matmul(h, w2), target);
    loss.backward();
    mg::NoGradGuard guard;
    for (mg::Tensor* p : {&w1, &b1, &w2}) {
      p->sub_(p->grad() * 0.05);
      p->zero_grad();
    }
    return loss.item<float>();
  };
  const float first_loss = step();
  for (int i = 0; i < 100; ++i) step();  // warm-up: caches and allocator pools fill
  const std::size_t before = resident_bytes();
  float last_loss = 0;
  for (int i = 0; i < 1000; ++i) last_loss = step();
  const std::size_t after = resident_bytes();
  EXPECT_LT(last_loss, first_loss);  // it trained
  EXPECT_LE(after, before + 256 * 1024)
      << "resident memory grew from " << before << " to " << after << " bytes";
}
