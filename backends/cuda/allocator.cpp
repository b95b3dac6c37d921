#include "backends/cuda/allocator.h"

#include <algorithm>
#include <memory>

#include "backends/cuda/runtime.h"
#include "core/error.h"
#include "core/host_allocator.h"
#include "core/shape.h"

namespace mixgrad::cuda {

namespace {
// Same bins as the CPU cache (4 per power of two), never below cudaMalloc's 512-byte granularity.
std::size_t block_size(std::size_t nbytes) {
  return std::max<std::size_t>(512, CachingAllocator::size_class(nbytes));
}

bool event_done(cudaEvent_t event) {
  const cudaError_t status = cudaEventQuery(event);
  if (status == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  return true;  // any other error: the event can no longer delay anything
}

std::string mib(std::size_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}
}  // namespace

void* DeviceCachingAllocator::allocate(std::size_t nbytes) {
  MG_CHECK(nbytes <= kMaxTensorBytes, "allocate", "cannot allocate ", nbytes,
           " bytes (more than the largest tensor, ", kMaxTensorBytes, " bytes)");
  const std::size_t size = block_size(nbytes);
  const cudaStream_t stream = native_stream(current_stream(device_));
  std::lock_guard<std::mutex> lock(mutex_);
  collect_pending();
  void* p = take_cached(stream, size);
  if (p != nullptr) {
    ++stats_.cache_hits;
  } else {
    DeviceIndexGuard guard(device_);
    cudaError_t status = cudaMalloc(&p, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached();  // other bins may hold enough memory between them
      status = cudaMalloc(&p, size);
    }
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw Error("allocate",
                  detail::concat("CUDA out of memory on cuda:", device_, " allocating ", nbytes,
                                 " bytes (", mib(stats_.allocated), " allocated, ",
                                 mib(stats_.reserved), " reserved by mixgrad)"));
    }
    MG_CUDA_CHECK(status);
    stats_.reserved += size;
    ++stats_.system_allocs;
  }
  live_[p] = Block{size, stream, {}};
  stats_.allocated += size;
  stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
  return p;
}

void DeviceCachingAllocator::deallocate(void* ptr, std::size_t) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return;  // not ours: nothing sensible to do in a destructor path
  Block block = std::move(it->second);
  live_.erase(it);
  stats_.allocated -= block.size;
  if (block.other_streams.empty()) {
    free_[{block.stream, block.size}].push_back(ptr);
    return;
  }
  // Runs in destructors, so nothing here throws: if the events cannot be made, wait for the
  // device instead.
  Pending pending{ptr, std::move(block), {}};
  int previous_device = device_;
  if (cudaGetDevice(&previous_device) != cudaSuccess || cudaSetDevice(device_) != cudaSuccess) {
    (void)cudaGetLastError();
    previous_device = device_;
  }
  for (cudaStream_t s : pending.block.other_streams) {
    cudaEvent_t event = nullptr;
    if (cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventRecord(event, s) != cudaSuccess) {
      (void)cudaGetLastError();
      if (event != nullptr) (void)cudaEventDestroy(event);
      (void)cudaDeviceSynchronize();
      continue;
    }
    pending.events.push_back(event);
  }
  if (previous_device != device_) (void)cudaSetDevice(previous_device);
  pending_.push_back(std::move(pending));
}

void DeviceCachingAllocator::record_stream(void* ptr, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  MG_CHECK(it != live_.end(), "cuda::record_stream",
           "the tensor's memory was not allocated by mixgrad's CUDA allocator");
  Block& b = it->second;
  if (stream != b.stream &&
      std::find(b.other_streams.begin(), b.other_streams.end(), stream) == b.other_streams.end())
    b.other_streams.push_back(stream);
}

void* DeviceCachingAllocator::take_cached(cudaStream_t stream, std::size_t size) {
  auto it = free_.find({stream, size});
  if (it == free_.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  return p;
}

void DeviceCachingAllocator::collect_pending() {
  auto done = [](Pending& p) { return std::all_of(p.events.begin(), p.events.end(), event_done); };
  for (std::size_t i = 0; i < pending_.size();) {
    if (!done(pending_[i])) {
      ++i;
      continue;
    }
    for (cudaEvent_t e : pending_[i].events) (void)cudaEventDestroy(e);
    free_[{pending_[i].block.stream, pending_[i].block.size}].push_back(pending_[i].ptr);
    pending_[i] = std::move(pending_.back());
    pending_.pop_back();
  }
}

void DeviceCachingAllocator::release_cached() {
  DeviceIndexGuard guard(device_);
  // A cached block may still be read by queued work on its stream; freeing after the device is
  // idle leaves no doubt about when cudaFree takes effect.
  MG_CUDA_CHECK(cudaDeviceSynchronize());
  for (auto& [key, blocks] : free_) {
    for (void* p : blocks) {
      (void)cudaFree(p);
      stats_.reserved -= key.size;
    }
  }
  free_.clear();
}

AllocatorStats DeviceCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void DeviceCachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  collect_pending();
  release_cached();
}

void DeviceCachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated = stats_.allocated;
}

DeviceCachingAllocator& device_allocator(int index) {
  check_device(index, "allocate");
  // Never destroyed: tensors may be freed during static destruction, after the pool would be.
  static std::vector<DeviceCachingAllocator*>* const pools = [] {
    auto* v = new std::vector<DeviceCachingAllocator*>();
    for (int d = 0; d < device_count(); ++d) v->push_back(new DeviceCachingAllocator(d));
    return v;
  }();
  return *(*pools)[index];
}

Allocator& device_allocator_for_registry(int index) {
  return device_allocator(index);
}

namespace {
struct PinnedPool {
  struct Entry {
    void* ptr;
    std::size_t size;
    cudaEvent_t event;  // last use; null when none
    int device;         // the event's device: it can only be recorded on that device's streams
  };
  std::mutex mutex;
  std::vector<Entry> free;
};
PinnedPool& pinned_pool() {
  static PinnedPool* const pool = new PinnedPool();  // never destroyed, as above
  return *pool;
}
}  // namespace

PinnedBuffer::PinnedBuffer(std::size_t nbytes, int device)
    : data_(nullptr), size_(block_size(nbytes)), device_(device) {
  PinnedPool& pool = pinned_pool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (std::size_t i = 0; i < pool.free.size(); ++i) {
      PinnedPool::Entry& e = pool.free[i];
      if (e.size != size_ || (e.event != nullptr && (e.device != device_ || !event_done(e.event))))
        continue;
      data_ = e.ptr;
      event_ = e.event;
      pool.free[i] = pool.free.back();
      pool.free.pop_back();
      return;
    }
  }
  DeviceIndexGuard guard(device_);
  MG_CUDA_CHECK(cudaHostAlloc(&data_, size_, cudaHostAllocPortable));
}

void PinnedBuffer::record(cudaStream_t stream) {
  DeviceIndexGuard guard(device_);
  if (event_ == nullptr) MG_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
  MG_CUDA_CHECK(cudaEventRecord(event_, stream));
}

PinnedBuffer::~PinnedBuffer() {
  PinnedPool& pool = pinned_pool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  pool.free.push_back({data_, size_, event_, device_});
}

}  // namespace mixgrad::cuda
