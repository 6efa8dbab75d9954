#pragma once
// Read-only loop devices over an already opened file: LOOP_CONFIGURE (Linux 5.8+) with
// LOOP_SET_FD + LOOP_SET_STATUS64 as fallback. Devices are created with LO_FLAGS_AUTOCLEAR, so
// the kernel detaches them when the last user (our fd, then the squashfs mount) goes away: a
// failed mount or an unmount never leaks one.
#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace mos::atomfs {

class LoopDevice {
 public:
  // Attaches the first size_limit bytes of backing_fd (0: all) read-only.
  static Result<LoopDevice> attach_read_only(int backing_fd, std::uint64_t size_limit);
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
