#include "sysroot/system_history.hpp"

#include <git2.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <utility>

#include "core/file.hpp"
#include "sysroot/crash_point.hpp"

namespace mos::sysroot {
namespace {

constexpr const char* kBranchRef = "refs/heads/master";

void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Objects and refs reach the disk before the ref that names them moves.
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
  });
}

std::string git_message() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

std::string hex(const git_oid& id) {
  char buffer[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buffer, sizeof buffer, &id);
  return buffer;
}

// Owns one libgit2 object and frees it with its matching function.
template <class T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (p) Free(p);
  }
};
using CommitPtr = Owned<git_commit, git_commit_free>;
using TreePtr = Owned<git_tree, git_tree_free>;
using BlobPtr = Owned<git_blob, git_blob_free>;
using SignaturePtr = Owned<git_signature, git_signature_free>;
using BuilderPtr = Owned<git_treebuilder, git_treebuilder_free>;
using ReferencePtr = Owned<git_reference, git_reference_free>;

void checkout_progress(const char* path, size_t, size_t, void*) {
  if (path) crash_point("history-checkout-file");
}

}  // namespace

bool SystemHistory::exists(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / ".git");
}

Result<SystemHistory> SystemHistory::open(const std::filesystem::path& dir, bool create) {
  init_libgit2();
  git_repository* repo = nullptr;
  if (exists(dir)) {
    if (git_repository_open_ext(&repo, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
      return fail("cannot open the system history {}: {}", dir.string(), git_message());
  } else if (!create) {
    return fail("no system is installed: {} does not exist", dir.string());
  } else {
    // Initialised beside its place and renamed into it, so a kill never leaves half a repository
    // at dir. Leftovers of killed attempts are removed (the caller holds the exclusive lock).
    auto parent = dir.parent_path();
    MOS_TRY(make_dirs(parent));
    std::error_code ec;
    std::string prefix = fmt::format(".{}.new-", dir.filename().string());
    for (const auto& entry : std::filesystem::directory_iterator(parent, ec))
      if (entry.path().filename().string().starts_with(prefix))
        std::filesystem::remove_all(entry.path(), ec);
    MOS_TRY_ASSIGN(auto staging, TempDir::create(parent, prefix));
    git_repository_init_options
        options;  // the _INIT macro leaves fields to zero-init (clang warns)
    git_repository_init_options_init(&options, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    options.flags = GIT_REPOSITORY_INIT_MKPATH;
    options.initial_head = "master";
    if (git_repository_init_ext(&repo, staging.path().c_str(), &options) != 0)
      return fail("cannot create the system history in {}: {}", staging.path().string(),
                  git_message());
    git_repository_free(repo);
    repo = nullptr;
    crash_point("history-initialized");
    if (::rename(staging.path().c_str(), dir.c_str()) != 0)
      return fail("cannot move {} to {}: {}", staging.path().string(), dir.string(),
                  errno_message(errno));
    staging.keep();
    MOS_TRY(fsync_dir(parent));
    if (git_repository_open_ext(&repo, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr) != 0)
      return fail("cannot open the system history {}: {}", dir.string(), git_message());
  }
  return SystemHistory(dir, repo);
}

SystemHistory::SystemHistory(SystemHistory&& other) noexcept
    : dir_(std::move(other.dir_)), repo_(std::exchange(other.repo_, nullptr)) {}

SystemHistory& SystemHistory::operator=(SystemHistory&& other) noexcept {
  if (this != &other) {
    if (repo_) git_repository_free(repo_);
    dir_ = std::move(other.dir_);
    repo_ = std::exchange(other.repo_, nullptr);
  }
  return *this;
}

SystemHistory::~SystemHistory() {
  if (repo_) git_repository_free(repo_);
}

Status SystemHistory::recover() {
  // libgit2 takes its locks by creating NAME.lock and renaming it over NAME; a kill in between
  // leaves the .lock behind and every later update would fail. Our flock excludes other writers,
  // so any lock file here is stale.
  std::error_code ec;
  auto gitdir = dir_ / ".git";
  std::vector<std::filesystem::path> stale;
  for (auto it = std::filesystem::recursive_directory_iterator(gitdir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".lock" && it->is_regular_file()) stale.push_back(it->path());
  }
  if (ec) return fail("cannot scan {}: {}", gitdir.string(), ec.message());
  for (const auto& p : stale) {
    if (!std::filesystem::remove(p, ec) && ec)
      return fail("cannot remove stale lock {}: {}", p.string(), ec.message());
  }
  MOS_TRY_ASSIGN(auto current, head());
  if (current) MOS_TRY(checkout_head());
  return {};
}

Result<std::optional<std::string>> SystemHistory::head() const {
  git_oid id;
  int rc = git_reference_name_to_id(&id, repo_, kBranchRef);
  if (rc == GIT_ENOTFOUND) return std::optional<std::string>{};
  if (rc != 0) return fail("cannot read {} in {}: {}", kBranchRef, dir_.string(), git_message());
  return std::optional<std::string>{hex(id)};
}

Result<FileSet> SystemHistory::read(const std::string& commit, std::size_t max_bytes) const {
  git_oid id;
  if (git_oid_fromstr(&id, commit.c_str()) != 0) return fail("\"{}\" is not a commit id", commit);
  CommitPtr c;
  if (git_commit_lookup(&c.p, repo_, &id) != 0)
    return fail("commit {} of {}: {}", commit, dir_.string(), git_message());
  TreePtr tree;
  if (git_commit_tree(&tree.p, c.p) != 0)
    return fail("tree of commit {}: {}", commit, git_message());
  FileSet files;
  for (std::size_t i = 0, n = git_tree_entrycount(tree.p); i < n; ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(tree.p, i);
    std::string name = git_tree_entry_name(entry);
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
      return fail("commit {}: \"{}\" is not a file (the system history holds files only)", commit,
                  name);
    BlobPtr blob;
    if (git_blob_lookup(&blob.p, repo_, git_tree_entry_id(entry)) != 0)
      return fail("commit {}: reading \"{}\": {}", commit, name, git_message());
    auto size = static_cast<std::size_t>(git_blob_rawsize(blob.p));
    if (size > max_bytes)
      return fail("commit {}: \"{}\" is {} bytes (limit {})", commit, name, size, max_bytes);
    files.emplace(name, std::string(static_cast<const char*>(git_blob_rawcontent(blob.p)), size));
  }
  return files;
}

Result<std::vector<HistoryEntry>> SystemHistory::log(std::size_t limit) const {
  std::vector<HistoryEntry> entries;
  MOS_TRY_ASSIGN(auto current, head());
  if (!current) return entries;
  git_oid id;
  git_oid_fromstr(&id, current->c_str());
  while (entries.size() < limit) {
    CommitPtr c;
    if (git_commit_lookup(&c.p, repo_, &id) != 0)
      return fail("history of {}: {}", dir_.string(), git_message());
    HistoryEntry e;
    e.commit = hex(id);
    e.tree = hex(*git_commit_tree_id(c.p));
    const char* summary = git_commit_summary(c.p);
    e.message = summary ? summary : "";
    e.time = git_commit_time(c.p);
    entries.push_back(std::move(e));
    if (git_commit_parentcount(c.p) == 0) break;
    id = *git_commit_parent_id(c.p, 0);
  }
  return entries;
}

Result<std::string> SystemHistory::commit(const FileSet& files, const std::string& message) {
  MOS_TRY_ASSIGN(auto parent_hex, head());
  BuilderPtr builder;
  if (git_treebuilder_new(&builder.p, repo_, nullptr) != 0)
    return fail("git tree: {}", git_message());
  for (const auto& [name, bytes] : files) {
    git_oid blob;
    if (git_blob_create_from_buffer(&blob, repo_, bytes.data(), bytes.size()) != 0)
      return fail("writing {} into {}: {}", name, dir_.string(), git_message());
    if (git_treebuilder_insert(nullptr, builder.p, name.c_str(), &blob, GIT_FILEMODE_BLOB) != 0)
      return fail("adding {} to the tree: {}", name, git_message());
    crash_point("history-blob-written");
  }
  git_oid tree_id;
  if (git_treebuilder_write(&tree_id, builder.p) != 0)
    return fail("writing the tree: {}", git_message());
  crash_point("history-tree-written");
  TreePtr tree;
  if (git_tree_lookup(&tree.p, repo_, &tree_id) != 0)
    return fail("reading the tree back: {}", git_message());
  SignaturePtr author;
  if (git_signature_now(&author.p, "machine", "root@machine.local") != 0)
    return fail("git signature: {}", git_message());
  CommitPtr parent;
  git_oid parent_id;
  if (parent_hex) {
    git_oid_fromstr(&parent_id, parent_hex->c_str());
    if (git_commit_lookup(&parent.p, repo_, &parent_id) != 0)
      return fail("reading HEAD: {}", git_message());
  }
  const git_commit* parents[1] = {parent.p};
  git_oid commit_id;
  if (git_commit_create(&commit_id, repo_, nullptr, author.p, author.p, "UTF-8", message.c_str(),
                        tree.p, parent.p ? 1 : 0, parents) != 0)
    return fail("writing the commit: {}", git_message());
  crash_point("history-commit-written");
  // The commit point: master moves from the parent to the new commit (compare-and-swap).
  ReferencePtr ref;
  std::string log_message = "commit: " + message.substr(0, message.find('\n'));
  int rc = parent_hex ? git_reference_create_matching(&ref.p, repo_, kBranchRef, &commit_id, 1,
                                                      &parent_id, log_message.c_str())
                      : git_reference_create(&ref.p, repo_, kBranchRef, &commit_id, 0,
                                             log_message.c_str());
  if (rc != 0) return fail("moving {} in {}: {}", kBranchRef, dir_.string(), git_message());
  crash_point("history-ref-updated");
  MOS_TRY(checkout_head());
  crash_point("history-checked-out");
  return hex(commit_id);
}

Status SystemHistory::checkout_head() {
  // A hard reset rewrites the index and the work tree from HEAD's tree, whatever a killed
  // checkout left of either (a plain checkout trusts the stale index).
  MOS_TRY_ASSIGN(auto current, head());
  if (!current) return {};
  git_oid id;
  git_oid_fromstr(&id, current->c_str());
  CommitPtr c;
  if (git_commit_lookup(&c.p, repo_, &id) != 0)
    return fail("reading HEAD of {}: {}", dir_.string(), git_message());
  git_checkout_options options;
  git_checkout_options_init(&options, GIT_CHECKOUT_OPTIONS_VERSION);
  options.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED;
  options.progress_cb = checkout_progress;
  if (git_reset(repo_, reinterpret_cast<git_object*>(c.p), GIT_RESET_HARD, &options) != 0)
    return fail("writing the work tree of {}: {}", dir_.string(), git_message());
  return {};
}

}  // namespace mos::sysroot
