#pragma once
// Answers to manifest GETs kept in memory, so that a registry answering the same manifest again
// does no file system work: no index.json read, no manifest blob read, no JSON parse.
//
// Why it can never serve a stale answer: an entry is only used while nothing in its repository's
// directory changed since it was stored, and every change is seen synchronously. The cache holds
// an inotify watch on each cached repository's directory; the kernel queues the event inside the
// rename (or write, or delete) that changes index.json, before that call returns, and every
// lookup first reads the queue (one non-blocking read). So a GET that starts after a push, a
// delete or any other process's change to index.json returned cannot see the entry that change
// made stale. An entry is stored only when no event came in between the watch being in place and
// the store (the generation check below), so a change racing the first read is never cached.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mos::registry {

struct CachedManifest {
  std::string bytes, media_type, digest;
};

class ManifestCache {
 public:
  explicit ManifestCache(std::filesystem::path root);
  ~ManifestCache();
  ManifestCache(const ManifestCache&) = delete;
  ManifestCache& operator=(const ManifestCache&) = delete;

  // The answer for REPO's REFERENCE (a tag or a digest), when cached and still valid.
  std::shared_ptr<const CachedManifest> find(std::string_view repository,
                                             std::string_view reference);

  // Call before reading the repository: watches its directory and returns the generation to
  // give store(). nullopt: this repository cannot be cached (no inotify, no watch).
  std::optional<std::uint64_t> prepare(std::string_view repository);
  // Keeps an answer read after prepare() returned `generation`, unless something changed since.
  void store(std::string_view repository, std::string_view reference, CachedManifest manifest,
             std::uint64_t generation);

 private:
  void drain_events();  // with mutex_ held
  void forget_repository(const std::string& repository);

  std::filesystem::path root_;
  int fd_ = -1;
  std::mutex mutex_;
  std::uint64_t generation_ = 0;  // bumped by every change seen
  std::unordered_map<int, std::string> repository_of_watch_;
  std::unordered_map<std::string, int> watch_of_repository_;
  std::unordered_map<std::string, std::shared_ptr<const CachedManifest>> entries_;
};

}  // namespace mos::registry
