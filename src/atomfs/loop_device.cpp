#include "atomfs/loop_device.hpp"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/file.hpp"

namespace mos::atomfs {
namespace {

constexpr int kAttachAttempts = 20;  // another process may take the free device between calls

// Binds fd to the loop device; false with errno EBUSY when someone else got it first.
// A read-only device reads its file with direct I/O: the kernel then keeps several reads in
// flight instead of copying the file page by page through its page cache (under emulation a
// layer read through dm-verity went from ~2 to ~20 MB/s), and the file's pages are not cached
// twice (the squashfs above caches what it decompressed). A kernel or filesystem that cannot
// (tmpfs before Linux 6.6) gets the buffered device.
bool configure(int loop_fd, int backing_fd, std::uint64_t size_limit, bool writable,
               std::uint64_t offset) {
  loop_config config{};
  config.fd = static_cast<__u32>(backing_fd);
  config.info.lo_flags =
      (writable ? 0 : LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO) | LO_FLAGS_AUTOCLEAR;
  config.info.lo_sizelimit = size_limit;
  config.info.lo_offset = offset;
  if (::ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0) return true;
  if (errno == EINVAL && (config.info.lo_flags & LO_FLAGS_DIRECT_IO)) {
    config.info.lo_flags &= ~LO_FLAGS_DIRECT_IO;
    if (::ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0) return true;
  }
  if (errno != EINVAL && errno != ENOTTY) return false;
  // Kernels before 5.8: two steps; read-only then follows from how both fds were opened.
  if (::ioctl(loop_fd, LOOP_SET_FD, backing_fd) != 0) return false;
  loop_info64 info{};
  info.lo_flags = LO_FLAGS_AUTOCLEAR;
  info.lo_sizelimit = size_limit;
  info.lo_offset = offset;
  if (::ioctl(loop_fd, LOOP_SET_STATUS64, &info) != 0) {
    int e = errno;
    ::ioctl(loop_fd, LOOP_CLR_FD, 0);
    errno = e;
    return false;
  }
  return true;
}

}  // namespace

Result<LoopDevice> LoopDevice::attach(int backing_fd, std::uint64_t size_limit, bool writable,
                                      std::uint64_t offset) {
  if (writable) {
    int flags = ::fcntl(backing_fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) != O_RDWR)
      return fail("a writable loop device needs its backing file open for reading and writing");
  }
  int control = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (control < 0)
    return fail("opening /dev/loop-control: {} (loop devices need root)", errno_message(errno));
  for (int attempt = 0; attempt < kAttachAttempts; ++attempt) {
    int number = ::ioctl(control, LOOP_CTL_GET_FREE);
    if (number < 0) {
      int e = errno;
      ::close(control);
      return fail("no free loop device: {}", errno_message(e));
    }
    std::string path = "/dev/loop" + std::to_string(number);
    // The kernel makes the device read-only when this fd cannot write, whatever the flags say.
    int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      ::close(control);
      return fail("opening {}: {}", path, errno_message(e));
    }
    if (configure(fd, backing_fd, size_limit, writable, offset)) {
      ::close(control);
      return LoopDevice(std::move(path), fd);
    }
    int e = errno;
    ::close(fd);
    if (e != EBUSY) {
      ::close(control);
      return fail("attaching {}: {}", path, errno_message(e));
    }
  }
  ::close(control);
  return fail("no loop device could be attached after {} attempts (all taken concurrently)",
              kAttachAttempts);
}

LoopDevice::LoopDevice(LoopDevice&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

LoopDevice::~LoopDevice() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace mos::atomfs
