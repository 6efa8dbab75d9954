// The manifest answer cache and its inotify watches.
#include "registry/manifest_cache.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace mos::registry {
namespace {

// Bounds memory: a registry with more distinct manifests than this asked for starts over.
constexpr std::size_t kMaxEntries = 4096;
constexpr std::uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                     IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                                     IN_MOVE_SELF;

std::string key_of(std::string_view repository, std::string_view reference) {
  std::string key(repository);
  key.push_back('\0');
  key.append(reference);
  return key;
}

}  // namespace

ManifestCache::ManifestCache(std::filesystem::path root)
    : root_(std::move(root)), fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}

ManifestCache::~ManifestCache() {
  if (fd_ >= 0) ::close(fd_);
}

void ManifestCache::forget_repository(const std::string& repository) {
  std::string prefix = repository + '\0';
  std::erase_if(entries_, [&](const auto& e) { return e.first.starts_with(prefix); });
}

void ManifestCache::drain_events() {
  alignas(inotify_event) char buffer[16 * (sizeof(inotify_event) + NAME_MAX + 1)];
  for (;;) {
    ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: nothing (else) changed
    ++generation_;
    for (char* p = buffer; p < buffer + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & IN_Q_OVERFLOW) {
        entries_.clear();
        continue;
      }
      auto it = repository_of_watch_.find(event->wd);
      if (it == repository_of_watch_.end()) continue;
      forget_repository(it->second);
      if (event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        // The directory is gone (or elsewhere): drop the watch; a new one comes with the next
        // read of that repository.
        if (!(event->mask & IN_IGNORED)) ::inotify_rm_watch(fd_, event->wd);
        watch_of_repository_.erase(it->second);
        repository_of_watch_.erase(it);
      }
    }
  }
}

std::shared_ptr<const CachedManifest> ManifestCache::find(std::string_view repository,
                                                          std::string_view reference) {
  if (fd_ < 0) return nullptr;
  std::lock_guard lock(mutex_);
  drain_events();
  auto it = entries_.find(key_of(repository, reference));
  return it == entries_.end() ? nullptr : it->second;
}

std::optional<std::uint64_t> ManifestCache::prepare(std::string_view repository) {
  if (fd_ < 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  drain_events();
  std::string name(repository);
  if (!watch_of_repository_.contains(name)) {
    int wd = ::inotify_add_watch(fd_, (root_ / name).c_str(), kWatchMask | IN_ONLYDIR);
    if (wd < 0) return std::nullopt;  // no such directory, or out of watches: not cached
    watch_of_repository_[name] = wd;
    repository_of_watch_[wd] = name;
  }
  return generation_;
}

void ManifestCache::store(std::string_view repository, std::string_view reference,
                          CachedManifest manifest, std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  drain_events();
  if (generation != generation_ || !watch_of_repository_.contains(std::string(repository))) return;
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_[key_of(repository, reference)] =
      std::make_shared<const CachedManifest>(std::move(manifest));
}

}  // namespace mos::registry
