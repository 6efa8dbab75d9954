#include "core/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/file.hpp"

namespace mos {

std::optional<long> lock_holder_pid(const std::filesystem::path& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  // Lines look like: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (major:minor in hex).
  std::ifstream locks("/proc/locks");
  std::string line;
  std::string wanted =
      fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
  while (std::getline(locks, line)) {
    std::istringstream fields(line);
    std::string id, kind, advisory, access, pid, dev_inode;
    fields >> id >> kind;
    if (kind == "->") fields >> kind;  // a waiter, listed under the holder
    fields >> advisory >> access >> pid >> dev_inode;
    if (dev_inode == wanted) {
      try {
        return std::stol(pid);
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

Result<FileLock> FileLock::acquire(const std::filesystem::path& path, Mode mode, Wait wait) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot open lock file {}: {}", path.string(), errno_message(errno));
  int op = mode == Mode::exclusive ? LOCK_EX : LOCK_SH;
  if (::flock(fd, op | LOCK_NB) == 0) return FileLock(fd);
  if (errno != EWOULDBLOCK) {
    int e = errno;
    ::close(fd);
    return fail("cannot lock {}: {}", path.string(), errno_message(e));
  }
  auto holder = lock_holder_pid(path);
  std::string who = holder ? fmt::format("process {}", *holder) : std::string("another process");
  if (wait == Wait::no_wait) {
    ::close(fd);
    return fail("{} is locked by {}", path.string(), who);
  }
  spdlog::info("waiting for {} (locked by {})", path.string(), who);
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    ::close(fd);
    return fail("cannot lock {}: {}", path.string(), errno_message(e));
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  release();
}

void FileLock::release() {
  if (fd_ >= 0) {
    ::close(fd_);  // closing the last descriptor drops the flock
    fd_ = -1;
  }
}

}  // namespace mos
