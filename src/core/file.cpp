#include "core/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace mos {

std::string errno_message(int error) {
  return std::strerror(error);
}

namespace {

Result<int> open_checked(const fs::path& path, int flags, mode_t mode = 0) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return fail("cannot open {}: {}", path.string(), errno_message(errno));
  return fd;
}

// The pid is part of the name because a forked child inherits the generator's state.
std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}-{:016x}", ::getpid(), rng());
}

Status write_all(int fd, const std::byte* data, std::size_t size, const fs::path& what) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write {}: {}", what.string(), errno_message(errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::string> read_file(const fs::path& path, std::size_t max_size) {
  MOS_TRY_ASSIGN(int fd, open_checked(path, O_RDONLY));
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail("cannot stat {}: {}", path.string(), errno_message(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return fail("cannot read {}: it is a directory", path.string());
  }
  if (static_cast<std::size_t>(st.st_size) > max_size) {
    ::close(fd);
    return fail("{} is {} bytes, more than the limit of {} bytes", path.string(), st.st_size,
                max_size);
  }
  // Read straight into the string, sized by fstat, one byte more to see the end in the same
  // pass; it grows only for a file that grows meanwhile or whose size stat does not tell
  // (/proc, pipes). A byte past max_size means the file is over the limit.
  // The string grows without zero-filling (resize would write every byte once more before
  // read overwrites it); only the bytes read are kept.
  std::string content;
  std::size_t filled = 0;
  std::size_t limit = max_size == kUnlimited ? max_size : max_size + 1;
  auto grow = [&content](std::size_t size) {
    content.resize_and_overwrite(size, [](char*, std::size_t n) { return n; });
  };
  grow(std::min(limit, static_cast<std::size_t>(st.st_size) + 1));
  for (;;) {
    if (filled == content.size()) {
      if (content.size() >= limit) break;
      grow(std::min(limit, std::max<std::size_t>(content.size() * 2, 65536)));
    }
    ssize_t n = ::read(fd, content.data() + filled, content.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return fail("cannot read {}: {}", path.string(), errno_message(e));
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (filled > max_size)
    return fail("{} is more than the limit of {} bytes", path.string(), max_size);
  content.resize(filled);
  return content;
}

Status fsync_dir(const fs::path& dir) {
  MOS_TRY_ASSIGN(int fd, open_checked(dir.empty() ? fs::path(".") : dir, O_RDONLY | O_DIRECTORY));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0 && e != EINVAL)
    return fail("cannot sync directory {}: {}", dir.string(), errno_message(e));
  return {};
}

Status fsync_file(const fs::path& file) {
  MOS_TRY_ASSIGN(int fd, open_checked(file, O_RDONLY));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return fail("cannot sync {}: {}", file.string(), errno_message(e));
  return {};
}

Status make_dirs(const fs::path& path, mode_t mode) {
  if (path.empty()) return {};
  std::error_code ec;
  if (fs::is_directory(path, ec)) return {};
  if (path.has_parent_path() && path.parent_path() != path)
    MOS_TRY(make_dirs(path.parent_path(), mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
    return fail("cannot create directory {}: {}", path.string(), errno_message(errno));
  if (!fs::is_directory(path, ec)) return fail("{} exists and is not a directory", path.string());
  return {};
}

Status write_file_atomic(const fs::path& path, std::string_view data, mode_t mode) {
  MOS_TRY_ASSIGN(auto writer, AtomicFileWriter::create(path, mode));
  MOS_TRY(writer.write(data));
  return writer.commit();
}

AtomicFileWriter::AtomicFileWriter(fs::path path, fs::path temp_path, int fd)
    : path_(std::move(path)), temp_path_(std::move(temp_path)), fd_(fd) {}

Result<AtomicFileWriter> AtomicFileWriter::create(const fs::path& path, mode_t mode) {
  fs::path dir = path.parent_path();
  fs::path temp = dir / fmt::format(".{}.tmp-{}", path.filename().string(), random_suffix());
  MOS_TRY_ASSIGN(int fd, open_checked(temp, O_WRONLY | O_CREAT | O_EXCL, mode));
  // The umask must not weaken or widen what the caller asked for (private keys are 0600).
  if (::fchmod(fd, mode) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return fail("cannot set mode of {}: {}", temp.string(), errno_message(e));
  }
  return AtomicFileWriter(path, temp, fd);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      fd_(std::exchange(other.fd_, -1)),
      written_(other.written_) {
  other.temp_path_.clear();
}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    abandon();
    path_ = std::move(other.path_);
    temp_path_ = std::move(other.temp_path_);
    other.temp_path_.clear();
    fd_ = std::exchange(other.fd_, -1);
    written_ = other.written_;
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() {
  abandon();
}

void AtomicFileWriter::abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

Status AtomicFileWriter::write(std::span<const std::byte> bytes) {
  if (fd_ < 0) return fail("cannot write {}: the writer is closed", path_.string());
  MOS_TRY(write_all(fd_, bytes.data(), bytes.size(), temp_path_));
  written_ += bytes.size();
  // Start writeback of each full 8 MiB as it is written, so the fsync at commit does not have
  // to flush a whole large blob at once (the copy overlaps network and disk).
  constexpr std::size_t kWritebackChunk = 8 << 20;
  if (written_ / kWritebackChunk != (written_ - bytes.size()) / kWritebackChunk) {
    auto end = static_cast<off_t>(written_ / kWritebackChunk * kWritebackChunk);
    ::sync_file_range(fd_, end - static_cast<off_t>(kWritebackChunk), kWritebackChunk,
                      SYNC_FILE_RANGE_WRITE);
  }
  return {};
}

Status AtomicFileWriter::commit(bool no_replace, Durability durability) {
  if (fd_ < 0) return fail("cannot commit {}: the writer is closed", path_.string());
  if (durability == Durability::now && ::fsync(fd_) != 0) {
    int e = errno;
    abandon();
    return fail("cannot sync {}: {}", temp_path_.string(), errno_message(e));
  }
  ::close(fd_);
  fd_ = -1;
  if (no_replace) {
    // link() fails with EEXIST instead of replacing: the first complete copy wins.
    if (::link(temp_path_.c_str(), path_.c_str()) != 0 && errno != EEXIST) {
      int e = errno;
      abandon();
      return fail("cannot create {}: {}", path_.string(), errno_message(e));
    }
    ::unlink(temp_path_.c_str());
  } else if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    abandon();
    return fail("cannot replace {}: {}", path_.string(), errno_message(e));
  }
  temp_path_.clear();
  return durability == Durability::now ? fsync_dir(path_.parent_path()) : Status{};
}

Result<TempDir> TempDir::create(const fs::path& parent, std::string_view prefix) {
  fs::path base = parent;
  if (base.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    base = tmp && *tmp ? fs::path(tmp) : fs::path("/tmp");
  }
  std::string pattern = (base / fmt::format("{}XXXXXX", prefix)).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr)
    return fail("cannot create a temporary directory in {}: {}", base.string(),
                errno_message(errno));
  return TempDir(fs::path(buffer.data()));
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

bool wait_for_file(const fs::path& file, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  while (!fs::exists(file, ec)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace mos
