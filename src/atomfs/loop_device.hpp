#pragma once
// Loop devices over an already opened file, read-only (verified image layers) or writable
// (storage volumes): LOOP_CONFIGURE (Linux 5.8+) with LOOP_SET_FD + LOOP_SET_STATUS64 as
// fallback. Devices are created with LO_FLAGS_AUTOCLEAR, so the kernel detaches them when the
// last user (our fd, then the mount) goes away: a failed mount or an unmount never leaks one.
// Read-only devices use direct I/O where the file's filesystem allows it (loop_device.cpp).
#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace mos::atomfs {

class LoopDevice {
 public:
  // Attaches size_limit bytes (0: all) of backing_fd from byte `offset`. A writable device needs
  // backing_fd open for writing (O_RDWR); the kernel would otherwise quietly make it read-only.
  static Result<LoopDevice> attach(int backing_fd, std::uint64_t size_limit, bool writable,
                                   std::uint64_t offset = 0);
  static Result<LoopDevice> attach_read_only(int backing_fd, std::uint64_t size_limit) {
    return attach(backing_fd, size_limit, false);
  }
  LoopDevice(LoopDevice&& other) noexcept;
  LoopDevice& operator=(LoopDevice&&) = delete;
  ~LoopDevice();  // closes the device; autoclear detaches it unless something mounted it
  const std::string& path() const { return path_; }

 private:
  LoopDevice(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

}  // namespace mos::atomfs
