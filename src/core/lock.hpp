#pragma once
// Advisory file locks (flock) that guard stores against concurrent writers. A lock that is busy
// is reported with the pid that holds it, read from /proc/locks.
#include <filesystem>
#include <optional>

#include "core/result.hpp"

namespace mos {

class FileLock {
 public:
  enum class Mode { shared, exclusive };
  enum class Wait { block, no_wait };

  // Opens (creating it if needed) the lock file and locks it. With Wait::no_wait a busy lock is
  // an error naming the holder; with Wait::block the call waits for it.
  static Result<FileLock> acquire(const std::filesystem::path& path, Mode mode,
                                  Wait wait = Wait::block);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  void release();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// The pid holding a lock on the file at path, if /proc/locks names one.
std::optional<long> lock_holder_pid(const std::filesystem::path& path);

}  // namespace mos
