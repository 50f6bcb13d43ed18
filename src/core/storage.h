#pragma once
// Raw memory behind tensors. A storage is owned by shared_ptr so tensors that
// view the same bytes (slices, mmap'd weights) keep it alive.
#include <cstddef>
#include <memory>
#include <string>

#include "core/device.h"
#include "core/memory_account.h"

namespace ia {

class Storage {
 public:
  virtual ~Storage() = default;
  virtual void* data() = 0;
  virtual size_t size_bytes() const = 0;
  virtual Device device() const = 0;
};

// 64-byte aligned host memory, charged to the thread's memory account (core/memory_account.h).
class HostStorage final : public Storage {
 public:
  explicit HostStorage(size_t bytes);
  ~HostStorage() override;
  HostStorage(const HostStorage&) = delete;
  HostStorage& operator=(const HostStorage&) = delete;
  void* data() override { return ptr_; }
  size_t size_bytes() const override { return bytes_; }
  Device device() const override { return Device::cpu(); }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  MemoryCharge charge_;
};

// A read-only file mapped into memory (weights are used in place, zero copy).
//
// If the file is truncated while mapped (a model folder rewritten or a
// download redone under a running `chat`), a read past the new end raises
// SIGBUS. Copying every file on load would double the memory and load time of
// multi-GB weights, and jumping out of the fault (siglongjmp) cannot unwind a
// kernel running in a worker thread. So a SIGBUS handler, installed on the
// first open, checks whether the faulting address lies in a live mapping: if
// so it prints one line naming the file ("ipfs-accelerate: error: <path> was
// truncated while in use ...") and exits with status 2 (a user-caused error,
// like the CLI's others); a fault anywhere else goes to the previous handler
// or the default action.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* data() const { return static_cast<const unsigned char*>(ptr_); }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  void* ptr_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  int guard_slot_ = -1;  // its entry in the SIGBUS handler's table, -1 when none was free
};

// A byte range of a MappedFile, seen as a storage. Writing through it is a bug:
// the mapping is PROT_READ and would fault.
//
// Its bytes are charged to the creating thread's memory account (core/memory_account.h) as host
// bytes while it lives: what a model uses of a checkpoint in place, not the whole file (a tensor
// converted at load drops its view once converted).
class MappedStorage final : public Storage {
 public:
  MappedStorage(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes)
      : file_(std::move(file)), offset_(offset), bytes_(bytes), charge_(Device::cpu(), bytes) {}
  void* data() override { return const_cast<unsigned char*>(file_->data()) + offset_; }
  size_t size_bytes() const override { return bytes_; }
  Device device() const override { return Device::cpu(); }
  // Drops the pages wholly inside [begin, begin + bytes) of this range from the process's
  // resident set (they stay in the page cache; a later read faults them back in): for weights
  // copied elsewhere at load (fused Q|K|V), so the model is not resident twice.
  void drop_resident(const void* begin, size_t bytes) const;
  // One storage over this range and `next` when `next` starts where this one ends in the same
  // file (gate_proj then up_proj as a checkpoint stores them), else null: tensors stored back
  // to back are one tensor without a copy.
  std::shared_ptr<MappedStorage> joined_with(const MappedStorage& next) const;

 private:
  std::shared_ptr<MappedFile> file_;
  size_t offset_;
  size_t bytes_;
  MemoryCharge charge_;
};

}  // namespace ia
