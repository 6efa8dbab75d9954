#include "runtime/service_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "core/file.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

// Rotations a reader looks for: far more than any writer keeps, only a guard against a loop.
constexpr unsigned kMaxRotations = 1000;

Result<UniqueFd> open_for_append(const fs::path& path) {
  // 0640: services print tokens and addresses that other users have no business reading.
  UniqueFd fd(::open(path.c_str(),
                     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640));
  if (!fd) return fail("cannot open log {}: {}", path.string(), errno_message(errno));
  return fd;
}

Result<struct stat> stat_of(int fd, const fs::path& path) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return fail("cannot stat {}: {}", path.string(), errno_message(errno));
  return st;
}

// Renames `from` over `to`; a missing `from` (a rotation that never happened yet) is no error.
Status rename_if_there(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
    return fail("cannot rotate log {} to {}: {}", from.string(), to.string(), errno_message(errno));
  return {};
}

Status read_exactly(int fd, char* into, std::size_t size, std::uint64_t offset,
                    const fs::path& path) {
  while (size > 0) {
    ssize_t n = ::pread(fd, into, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read log {}: {}", path.string(), errno_message(errno));
    if (n == 0) return fail("log {} shrank while being read", path.string());
    into += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

struct LogPart {
  fs::path path;
  UniqueFd fd;
  std::uint64_t size = 0;
};

// The log's files, newest first, each opened once; nullopt when a rotation moved a file we had
// already opened under a second name while we went along (the caller tries again).
Result<std::optional<std::vector<LogPart>>> open_parts(const fs::path& path) {
  std::vector<LogPart> parts;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (unsigned n = 0; n <= kMaxRotations; ++n) {
    fs::path file = n == 0 ? path : log_rotation(path, n);
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
      if (errno != ENOENT)
        return fail("cannot open log {}: {}", file.string(), errno_message(errno));
      if (n == 0) continue;  // between a rotation's rename and the new file
      break;
    }
    MOS_TRY_ASSIGN(auto st, stat_of(fd.get(), file));
    if (!seen.emplace(st.st_dev, st.st_ino).second) return std::nullopt;
    parts.push_back({file, std::move(fd), static_cast<std::uint64_t>(st.st_size)});
  }
  return parts;
}

}  // namespace

fs::path log_rotation(const fs::path& log, unsigned n) {
  return fs::path(fmt::format("{}.{}", log.string(), n));
}

Result<ServiceLog> ServiceLog::open(fs::path path, std::uint64_t max_bytes, unsigned rotations) {
  if (max_bytes == 0) return fail("log {}: its size limit must be above 0", path.string());
  if (rotations > kMaxRotations)
    return fail("log {}: {} rotations are more than the {} kept at most", path.string(), rotations,
                kMaxRotations);
  if (path.has_parent_path()) MOS_TRY(make_dirs(path.parent_path(), 0750));
  // Older files of a larger count used before would otherwise stay forever, outside the bound.
  for (unsigned n = rotations + 1; n <= kMaxRotations; ++n) {
    std::error_code ec;
    if (!fs::remove(log_rotation(path, n), ec)) {
      if (ec)
        return fail("cannot remove old log {}: {}", log_rotation(path, n).string(), ec.message());
      break;
    }
  }
  MOS_TRY_ASSIGN(auto fd, open_for_append(path));
  MOS_TRY_ASSIGN(auto st, stat_of(fd.get(), path));
  return ServiceLog(std::move(path), max_bytes, rotations, std::move(fd),
                    static_cast<std::uint64_t>(st.st_size));
}

Status ServiceLog::rotate() {
  for (unsigned n = rotations_; n >= 2; --n)
    MOS_TRY(rename_if_there(log_rotation(path_, n - 1), log_rotation(path_, n)));
  if (rotations_ > 0) {
    MOS_TRY(rename_if_there(path_, log_rotation(path_, 1)));
  } else if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return fail("cannot remove full log {}: {}", path_.string(), errno_message(errno));
  }
  // Until this succeeds, writes go on into the renamed file and the next append tries again.
  MOS_TRY_ASSIGN(auto fd, open_for_append(path_));
  MOS_TRY_ASSIGN(auto st, stat_of(fd.get(), path_));
  fd_ = std::move(fd);
  size_ = static_cast<std::uint64_t>(st.st_size);
  return {};
}

Status ServiceLog::append(std::string_view bytes) {
  while (!bytes.empty()) {
    if (size_ >= max_bytes_) MOS_TRY(rotate());
    std::size_t room = static_cast<std::size_t>(
        std::min<std::uint64_t>(bytes.size(), max_bytes_ - std::min(size_, max_bytes_)));
    ssize_t n = ::write(fd_.get(), bytes.data(), room);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write log {}: {}", path_.string(), errno_message(errno));
    size_ += static_cast<std::uint64_t>(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::string> read_log_tail(const fs::path& path, std::size_t max_bytes) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    MOS_TRY_ASSIGN(auto parts, open_parts(path));
    if (!parts) continue;
    if (parts->empty()) return fail("there is no log at {}", path.string());
    // Newest first until enough, then joined oldest first.
    std::vector<std::string> pieces;
    std::size_t need = max_bytes;
    for (auto& part : *parts) {
      if (need == 0) break;
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(part.size, need));
      std::string piece(take, '\0');
      MOS_TRY(read_exactly(part.fd.get(), piece.data(), take, part.size - take, part.path));
      pieces.push_back(std::move(piece));
      need -= take;
    }
    std::string text;
    text.reserve(max_bytes == kUnlimited ? 0 : max_bytes - need);
    for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) text += *it;
    return text;
  }
  return fail("log {} kept rotating while being read", path.string());
}

Status follow_log(const fs::path& path, const std::function<bool(std::string_view)>& sink,
                  FollowOptions options) {
  std::mutex mutex;
  std::condition_variable_any wake;
  // Sleeps one poll; false once a stop is requested (which also cuts the sleep short).
  auto pause = [&] {
    std::unique_lock lock(mutex);
    wake.wait_for(lock, options.stop, options.poll, [] { return false; });
    return !options.stop.stop_requested();
  };

  UniqueFd fd;
  struct stat current{};
  std::uint64_t offset = 0;
  // Opens whatever is at `path` now; false when nothing is.
  auto open_current = [&](bool at_end) -> Result<bool> {
    UniqueFd next(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!next) {
      if (errno == ENOENT) return false;
      return fail("cannot open log {}: {}", path.string(), errno_message(errno));
    }
    MOS_TRY_ASSIGN(current, stat_of(next.get(), path));
    fd = std::move(next);
    offset = at_end ? static_cast<std::uint64_t>(current.st_size) : 0;
    return true;
  };

  std::vector<char> buffer(64 * 1024);
  // Passes on everything up to the file's end; false when the sink wants no more.
  auto drain = [&]() -> Result<bool> {
    for (;;) {
      ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("cannot read log {}: {}", path.string(), errno_message(errno));
      if (n == 0) return true;
      offset += static_cast<std::uint64_t>(n);
      if (!sink(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) return false;
    }
  };

  MOS_TRY_ASSIGN(bool found, open_current(!options.from_start));
  // A log that appears later is new, all of it.
  while (!found) {
    if (!pause()) return {};
    MOS_TRY_ASSIGN(found, open_current(false));
  }
  for (;;) {
    MOS_TRY_ASSIGN(bool more, drain());
    if (!more) return {};
    MOS_TRY_ASSIGN(auto now, stat_of(fd.get(), path));
    if (static_cast<std::uint64_t>(now.st_size) < offset) {
      offset = 0;  // truncated in place by somebody else: start over
      continue;
    }
    struct stat named{};
    bool rotated = ::stat(path.c_str(), &named) == 0 &&
                   (named.st_ino != current.st_ino || named.st_dev != current.st_dev);
    if (rotated) {
      // The writer renames a file only after its last write to it, so one more read gets all.
      MOS_TRY_ASSIGN(more, drain());
      if (!more) return {};
      MOS_TRY_ASSIGN(found, open_current(false));
      if (found) continue;
    }
    if (!pause()) return {};
  }
}

}  // namespace mos::runtime
