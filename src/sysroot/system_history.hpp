#pragma once
// The history of the system: config/manifest.git, a non-bare git repository on branch master
// (author "machine <root@machine.local>"), written through libgit2. Each commit's tree is one
// complete system: manifest.json plus the signed triple (<sha>.json, <sha>.json.signed,
// <sha>.pem) of every install manifest it uses.
//
// Crash safety: a commit writes its blobs, tree and commit object first (objects nobody points
// at are harmless), then moves refs/heads/master with a compare-and-swap; that ref update (a
// rename) is the single commit point of every change. The work tree is a copy for people and is
// rewritten from HEAD afterwards; mosctl reads systems from the object database only. Stale
// libgit2 lock files left by a kill are removed by recover(), which callers run while holding
// the exclusive manifest lock.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

struct git_repository;

namespace mos::sysroot {

using FileSet = std::map<std::string, std::string>;  // file name -> bytes (flat tree)

struct HistoryEntry {
  std::string commit;   // hex id
  std::string tree;     // hex id of its tree (equal trees = equal systems)
  std::string message;  // first line
  std::int64_t time = 0;
};

class SystemHistory {
 public:
  // Opens config/manifest.git; with create=true initialises it (branch master) when missing.
  static Result<SystemHistory> open(const std::filesystem::path& dir, bool create);
  static bool exists(const std::filesystem::path& dir);
  SystemHistory(SystemHistory&&) noexcept;
  SystemHistory& operator=(SystemHistory&&) noexcept;
  ~SystemHistory();

  // Removes lock files a killed writer left in the git directory and rewrites the work tree
  // from HEAD. Only with the exclusive manifest lock held.
  Status recover();

  // The commit master points at; nullopt before the first system.
  Result<std::optional<std::string>> head() const;
  // The files of a commit's tree (flat; subdirectories are an error), each limited to max_bytes.
  Result<FileSet> read(const std::string& commit, std::size_t max_bytes) const;
  // First-parent history from HEAD, newest first.
  Result<std::vector<HistoryEntry>> log(std::size_t limit = 1000) const;

  // Records `files` as the new system: exactly these files, in a commit whose parent is the
  // current HEAD, then moves master to it (fails if master moved meanwhile) and refreshes the
  // work tree. Returns the new commit id.
  Result<std::string> commit(const FileSet& files, const std::string& message);

 private:
  explicit SystemHistory(std::filesystem::path dir, git_repository* repo)
      : dir_(std::move(dir)), repo_(repo) {}
  Status checkout_head();
  std::filesystem::path dir_;
  git_repository* repo_ = nullptr;
};

}  // namespace mos::sysroot
