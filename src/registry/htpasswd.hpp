#pragma once
// mos-registry's user table: an htpasswd file (zot's http.auth.htpasswd.path), lines
// "user:hash". Only hashes that resist offline guessing are accepted: bcrypt ($2y$, $2b$, $2a$:
// `htpasswd -B`, what zot and docker-registry use) and SHA-crypt ($5$, $6$); lines with weaker
// schemes ({SHA}, apr1/MD5, DES crypt, plain text) are skipped with a warning naming the user,
// so that user cannot log in. Passwords are checked with libxcrypt.
//
// bcrypt costs tens of milliseconds per check by design and every request carries the
// password, so successful checks are remembered (bounded, keyed by a SHA-256 of user and
// password, forgotten when the file changes). The file is re-read when it changes (checked at
// most once per reload interval), so rotating a password needs no restart; a reload that fails
// keeps the previous table and logs a warning.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/result.hpp"
#include "registry/auth.hpp"

namespace mos::registry {

struct HtpasswdTable {
  std::map<std::string, std::string, std::less<>> hashes;  // user -> crypt(3) hash
  std::vector<std::string> warnings;  // "FILE:LINE: ..." for every line skipped
};

// Parses the text of an htpasswd file; `path` names it in messages. A line that is not
// "user:hash" (or names a user twice, or has a broken bcrypt/SHA-crypt hash) is an error
// "PATH:LINE: ...". Comments (#) and blank lines are ignored.
Result<HtpasswdTable> parse_htpasswd(std::string_view text, std::string_view path);

struct HtpasswdOptions {
  std::chrono::milliseconds reload_interval{1000};  // how often the file's stat is looked at
  std::size_t cache_entries = 1024;                 // successful checks remembered
};

class Htpasswd final : public Authenticator {
 public:
  // Reads the file; missing, unreadable or malformed is an error naming it.
  static Result<std::shared_ptr<Htpasswd>> load(const std::filesystem::path& path,
                                                HtpasswdOptions options = {});
  ~Htpasswd() override;

  bool verify(std::string_view user, std::string_view password) const override;
  bool remembers(std::string_view user, std::string_view password) const override;

  // Re-reads the file now if its size, mtime or inode changed (verify() does this at most once
  // per reload interval). Returns the error of a failed reload (the old table stays).
  Status reload_if_changed() const;

  std::size_t users() const;
  // Warnings of the last successful load (skipped lines).
  std::vector<std::string> warnings() const;
  // Counts crypt(3) calls, so tests can see the cache working.
  std::uint64_t hash_computations() const { return hash_computations_.load(); }

 private:
  struct FileStamp {
    std::uint64_t size = 0, inode = 0;
    std::int64_t mtime_ns = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  Htpasswd(std::filesystem::path path, HtpasswdOptions options);
  static Result<FileStamp> stamp_of(const std::filesystem::path& path);
  void maybe_reload() const;
  // Replaces the table and forgets every remembered check.
  void install(HtpasswdTable table) const;

  std::filesystem::path path_;
  HtpasswdOptions options_;
  mutable std::mutex reload_mutex_;  // one reload at a time; guards last_seen_
  mutable std::optional<FileStamp>
      last_seen_;             // stamp of the last read attempt (nullopt: stat failed)
  mutable std::mutex mutex_;  // guards table_, generation_ and the cache
  mutable std::shared_ptr<const HtpasswdTable> table_;
  mutable std::uint64_t generation_ = 0;           // bumped by every install
  mutable std::unordered_set<std::string> cache_;  // hex SHA-256 of user NUL password
  mutable std::deque<std::string> cache_order_;    // oldest first, for eviction
  mutable std::atomic<std::int64_t> last_check_ns_{0};
  mutable std::atomic<std::uint64_t> hash_computations_{0};
};

}  // namespace mos::registry
