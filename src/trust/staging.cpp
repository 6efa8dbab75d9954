#include "trust/staging.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/file.hpp"

namespace mos::trust {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kStagingMarker = ".tmp-";

Status fsync_path(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return fail("cannot open {} to sync it: {}", path.string(), errno_message(errno));
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL)
    return fail("cannot sync {}: {}", path.string(), errno_message(error));
  return {};
}

// Files are synced by whoever writes them (write_new_file); the directories holding their
// names are synced here, once each.
Status sync_tree(const fs::path& root) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() == fs::file_type::directory)
      MOS_TRY(fsync_path(it->path(), true));
  }
  if (ec) return fail("cannot walk {}: {}", root.string(), ec.message());
  return fsync_path(root, true);
}

}  // namespace

Status make_private_dir(const fs::path& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0)
    return fail("cannot create directory {}: {}", path.string(), errno_message(errno));
  if (::chmod(path.c_str(), mode) != 0)
    return fail("cannot set the mode of {}: {}", path.string(), errno_message(errno));
  return {};
}

void remove_stale_staging(const fs::path& parent) {
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    auto marker = name.rfind(kStagingMarker);  // the last one: NAME may contain ".tmp-" too
    if (name.empty() || name[0] != '.' || marker == std::string::npos) continue;
    // .NAME.tmp-<pid>-<random>
    const char* digits = name.c_str() + marker + kStagingMarker.size();
    char* digits_end = nullptr;
    long pid = std::strtol(digits, &digits_end, 10);
    if (digits_end == digits || *digits_end != '-' || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    fs::remove_all(entry.path(), ignored);
  }
}

Result<StagingDir> StagingDir::create(const fs::path& parent, std::string_view name,
                                      std::string what) {
  remove_stale_staging(parent);
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  fs::path path = parent / fmt::format(".{}{}{}-{:016x}", name, kStagingMarker, ::getpid(), rng());
  if (auto made = make_private_dir(path); !made)
    return context(fmt::format("creating {}", what), made.error());
  return StagingDir(path, parent / name, std::move(what));
}

StagingDir::StagingDir(StagingDir&& other) noexcept
    : path_(std::move(other.path_)),
      final_(std::move(other.final_)),
      what_(std::move(other.what_)) {
  other.path_.clear();
}

StagingDir::~StagingDir() {
  if (!path_.empty()) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

Status StagingDir::commit() {
  if (path_.empty()) return fail("{} was already committed", what_);
  if (auto synced = sync_tree(path_); !synced)
    return context(fmt::format("creating {}", what_), synced.error());
  // RENAME_NOREPLACE: an existing entry (even an empty directory) is never replaced.
  int rc = ::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, final_.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {
    // A filesystem without RENAME_NOREPLACE: rename(2) still refuses a non-empty target, and
    // an empty one is checked for just before.
    std::error_code ec;
    rc = fs::exists(final_, ec) ? (errno = EEXIST, -1) : ::rename(path_.c_str(), final_.c_str());
  }
  if (rc != 0) {
    int error = errno;
    if (error == EEXIST || error == ENOTEMPTY)
      return fail("{} already exists ({})", what_, final_.string());
    return fail("cannot create {} at {}: {}", what_, final_.string(), errno_message(error));
  }
  path_.clear();
  return fsync_path(final_.parent_path(), true);
}

Status StagingDir::commit_replacing() {
  if (path_.empty()) return fail("{} was already committed", what_);
  std::error_code ec;
  if (!fs::exists(final_, ec)) return commit();
  if (auto synced = sync_tree(path_); !synced)
    return context(fmt::format("replacing {}", what_), synced.error());
  if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL)
      return fail("cannot replace {} at {}: {}", what_, final_.string(), errno_message(errno));
    // A filesystem without RENAME_EXCHANGE: the old tree moves aside (under a staging name, so
    // a crash leaves it for remove_stale_staging), the new one takes its place. For a moment
    // there is no entry, never a mix.
    fs::path aside = fs::path(path_).concat("-old");
    if (::rename(final_.c_str(), aside.c_str()) != 0)
      return fail("cannot move {} aside: {}", final_.string(), errno_message(errno));
    if (::rename(path_.c_str(), final_.c_str()) != 0) {
      int error = errno;
      (void)::rename(aside.c_str(), final_.c_str());
      return fail("cannot replace {} at {}: {}", what_, final_.string(), errno_message(error));
    }
    path_ = aside;
  }
  // path_ now holds the old tree; the destructor removes it.
  return fsync_path(final_.parent_path(), true);
}

}  // namespace mos::trust
