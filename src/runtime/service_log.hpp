#pragma once
// What a service prints (stdout and stderr), kept in bounded files: NAME.log and its rotations
// NAME.log.1 (newer) ... NAME.log.K (older), so a chatty service can never fill the disk. A
// rotation renames the files up one number (the oldest falls off) and starts NAME.log afresh;
// readers tell a rotation from growth by the inode at NAME.log. Nothing is fsynced: a log is not
// worth a disk flush per line, and the page cache survives a crash of boot itself.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace mos::runtime {

inline constexpr std::uint64_t kDefaultLogMaxBytes = 1024 * 1024;
inline constexpr unsigned kDefaultLogRotations = 2;

// The writer of one service's log; one per log file (two writers would rotate under each other).
class ServiceLog {
 public:
  // Opens (creating, with its directory) the log at `path`, appending to what is there. Each
  // file holds at most max_bytes (> 0); `rotations` older files are kept besides, and older
  // leftovers of a larger count are removed, so at most rotations + 1 files exist.
  static Result<ServiceLog> open(std::filesystem::path path,
                                 std::uint64_t max_bytes = kDefaultLogMaxBytes,
                                 unsigned rotations = kDefaultLogRotations);

  // Writes all of `bytes`. They are split at the size limit: the file is filled to exactly
  // max_bytes, rotated, and the rest goes on in the fresh file (a chunk of several times
  // max_bytes rotates several times and keeps only its end), so every file, and the whole log,
  // stays within its bound. Bytes are never held back; a chunk may be split mid-line, which
  // read_log_tail and follow_log join again.
  Status append(std::string_view bytes);

  const std::filesystem::path& path() const { return path_; }

 private:
  ServiceLog(std::filesystem::path path, std::uint64_t max_bytes, unsigned rotations, UniqueFd fd,
             std::uint64_t size)
      : path_(std::move(path)),
        max_bytes_(max_bytes),
        rotations_(rotations),
        fd_(std::move(fd)),
        size_(size) {}
  Status rotate();

  std::filesystem::path path_;
  std::uint64_t max_bytes_;
  unsigned rotations_;
  UniqueFd fd_;
  std::uint64_t size_;  // of the current file, as we wrote it
};

// NAME.log.N
std::filesystem::path log_rotation(const std::filesystem::path& log, unsigned n);

// The last max_bytes of the log across its rotations, oldest first. Fails when there is no log
// at all. A rotation while reading is noticed (an inode seen twice) and the read retried.
Result<std::string> read_log_tail(const std::filesystem::path& path, std::size_t max_bytes);

struct FollowOptions {
  std::chrono::milliseconds poll{200};
  // From the start of the current file rather than its end: nothing written after the caller
  // created it is missed (what tests need), at the price of repeating what read_log_tail showed.
  bool from_start = false;
  std::stop_token stop{};  // stops the follow between polls
};

// Passes the bytes appended to the log to `sink` as they come, until `sink` returns false or
// `stop` is requested; a log not there yet is waited for. Across a rotation it reads the renamed
// file to its end and goes on at the start of the new one. A follower that polls more slowly than
// the log rotates twice skips the files in between (they are still in the rotations).
Status follow_log(const std::filesystem::path& path,
                  const std::function<bool(std::string_view)>& sink, FollowOptions options = {});

}  // namespace mos::runtime
