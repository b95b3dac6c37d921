// A program that does not link mixgrad::cuda (as this test program) has no CUDA backend: every
// way onto a CUDA device is a clear Error saying which library to link, and the questions a CPU
// program may ask (is there a GPU?) have plain answers.
#include <gtest/gtest.h>

#include "backends/cuda_api.h"
#include "common/test_util.h"
#include "ops/creation.h"

namespace mixgrad {
namespace {

TEST(CudaBackendLink, WithoutTheLibraryThereIsNoBackend) {
  EXPECT_FALSE(cuda::is_built());
  EXPECT_FALSE(cuda::is_available());
  EXPECT_EQ(cuda::device_count(), 0);
  EXPECT_EQ(cuda::current_device(), 0);
  cuda::set_allow_tf32(true);  // a preference: kept without a backend
  EXPECT_TRUE(cuda::allow_tf32());
  cuda::set_allow_tf32(false);
}

TEST(CudaBackendLink, CudaTensorsNameTheMissingLibrary) {
  EXPECT_MG_ERROR(zeros({2, 3}, Device::cuda()), "mixgrad::cuda");
  EXPECT_MG_ERROR(ones({3}).to(Device::cuda()), "mixgrad::cuda");
  EXPECT_MG_ERROR(cuda::set_device(0), "mixgrad::cuda");
  EXPECT_MG_ERROR(cuda::synchronize(), "mixgrad::cuda");
  EXPECT_MG_ERROR(cuda::Stream::create(), "mixgrad::cuda");
  EXPECT_MG_ERROR(cuda::current_stream(), "mixgrad::cuda");
  EXPECT_MG_ERROR(cuda::StreamGuard(cuda::Stream::default_stream()), "mixgrad::cuda");
}

}  // namespace
}  // namespace mixgrad
