#pragma once
// The CUDA caching allocator: freed device blocks go to size-binned free lists of the stream they
// were allocated on, and are handed out again to allocations on that stream without a sync
// (work on one stream runs in order, so the next user cannot overtake the last one). A block
// also used on other streams (record_stream) waits for events on those streams before reuse.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/allocator.h"

namespace mixgrad::cuda {

class DeviceCachingAllocator final : public Allocator {
 public:
  explicit DeviceCachingAllocator(int device) : device_(device) {}
  // Allocates on the device's current stream.
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* ptr, std::size_t nbytes) override;
  AllocatorStats stats() const override;
  // Frees the cached blocks that no stream still uses.
  void empty_cache() override;
  void reset_peak_stats() override;
  // Marks the live block at `ptr` as used by `stream` too.
  void record_stream(void* ptr, cudaStream_t stream);

 private:
  struct Block {
    std::size_t size = 0;
    cudaStream_t stream = nullptr;            // allocated on
    std::vector<cudaStream_t> other_streams;  // recorded uses
  };
  struct Pending {  // freed, waiting for other streams' work on it
    void* ptr;
    Block block;
    std::vector<cudaEvent_t> events;
  };
  struct FreeKey {
    cudaStream_t stream;
    std::size_t size;
    friend bool operator==(const FreeKey&, const FreeKey&) = default;
  };
  struct FreeKeyHash {
    std::size_t operator()(const FreeKey& k) const {
      return std::hash<const void*>()(k.stream) ^ (std::hash<std::size_t>()(k.size) * 31);
    }
  };

  void* take_cached(cudaStream_t stream, std::size_t size);  // lock held
  void collect_pending();                                    // lock held
  void release_cached();                                     // lock held

  int device_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, Block> live_;
  std::unordered_map<FreeKey, std::vector<void*>, FreeKeyHash> free_;
  std::vector<Pending> pending_;
  AllocatorStats stats_;
};

// The allocator of CUDA device `index` (Error if that device does not exist or no GPU is
// present); registered with core/allocator.h for DeviceType::CUDA.
DeviceCachingAllocator& device_allocator(int index);
Allocator& device_allocator_for_registry(int index);

// Page-locked host buffers for transfers, reused once the stream work that read or wrote them has
// finished (an event per use).
class PinnedBuffer {
 public:
  PinnedBuffer(std::size_t nbytes, int device);
  ~PinnedBuffer();  // returns the buffer to the pool, to be reused after record()'s event
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return data_; }
  // The buffer is in use by work queued on `stream` so far.
  void record(cudaStream_t stream);

 private:
  void* data_;
  std::size_t size_;
  int device_;
  cudaEvent_t event_ = nullptr;
};

}  // namespace mixgrad::cuda
