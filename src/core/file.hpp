#pragma once
// Files that never expose half-written state: atomic replacement (temp, fsync, rename, fsync of
// the directory), streamed atomic writers, bounded reads, and directory creation with modes.
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos {

namespace fs = std::filesystem;

inline constexpr std::size_t kUnlimited = static_cast<std::size_t>(-1);

// Reads a whole file; refuses files larger than max_size with a clear message.
Result<std::string> read_file(const fs::path& path, std::size_t max_size = kUnlimited);

// Replaces path with data so that readers see either the old or the new content.
Status write_file_atomic(const fs::path& path, std::string_view data, mode_t mode = 0644);

// Creates path and its parents with mode (existing directories are left as they are).
Status make_dirs(const fs::path& path, mode_t mode = 0755);

// Waits until `file` exists, looking every few milliseconds: the handshake of boot steps that a
// shell script starts early and releases by creating a file. False past the timeout.
bool wait_for_file(const fs::path& file, std::chrono::milliseconds timeout);

Status fsync_dir(const fs::path& dir);
// Flushes a file a tool wrote to disk (before it is renamed into place).
Status fsync_file(const fs::path& file);

// Streams a new file into place: bytes go to a temp file beside the target; commit() fsyncs and
// renames it; destruction without commit() removes the temp file.
class AtomicFileWriter {
 public:
  static Result<AtomicFileWriter> create(const fs::path& path, mode_t mode = 0644);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  Status write(std::span<const std::byte> bytes);
  Status write(std::string_view bytes) {
    return write(std::as_bytes(std::span(bytes.data(), bytes.size())));
  }
  // Makes the file visible at its final path. With no_replace, an existing file is kept (it
  // already has the same content in content-addressed stores) and the temp file is dropped.
  // Durable: the file and its directory are synced first; not: the caller syncs later.
  enum class Durability { now, later };
  Status commit(bool no_replace = false, Durability durability = Durability::now);
  void abandon();

  const fs::path& path() const { return path_; }
  const fs::path& temp_path() const { return temp_path_; }
  std::size_t bytes_written() const { return written_; }

 private:
  AtomicFileWriter(fs::path path, fs::path temp_path, int fd);
  fs::path path_;
  fs::path temp_path_;
  int fd_ = -1;
  std::size_t written_ = 0;
};

// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  static Result<TempDir> create(const fs::path& parent = {}, std::string_view prefix = "mos-");
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const fs::path& path() const { return path_; }
  void keep() { path_.clear(); }

 private:
  explicit TempDir(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

std::string errno_message(int error);

}  // namespace mos
