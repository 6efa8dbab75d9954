#include "atomfs/shifted_copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "core/unique_fd.hpp"

namespace mos::atomfs {
namespace {

namespace fs = std::filesystem;

Status shift_one(const fs::path& path, const IdShift& shift) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return fail("reading {}: {}", path.string(), errno_message(errno));
  if (st.st_uid >= shift.count || st.st_gid >= shift.count)
    return fail("{} is owned by {}:{}, outside the range of {} ids", path.string(), st.st_uid,
                st.st_gid, shift.count);
  if (::lchown(path.c_str(), static_cast<uid_t>(st.st_uid + shift.host_base),
               static_cast<gid_t>(st.st_gid + shift.host_base)) != 0)
    return fail("changing the owner of {}: {}", path.string(), errno_message(errno));
  // chown clears set-user-ID and set-group-ID bits: put them back.
  if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) != 0 &&
      ::chmod(path.c_str(), st.st_mode & 07777) != 0)
    return fail("restoring the mode of {}: {}", path.string(), errno_message(errno));
  return {};
}

}  // namespace

Result<fs::path> shifted_copy(const fs::path& source, const fs::path& cache_dir,
                              std::string_view key, const IdShift& shift) {
  auto tree = cache_dir / "tree";
  auto marker = cache_dir / "made-for";
  auto want = fmt::format("{} {} {}\n", key, shift.host_base, shift.count);
  if (auto have = read_file(marker, 4096); have && *have == want && fs::is_directory(tree))
    return tree;
  MOS_TRY(make_dirs(cache_dir, 0700));
  std::error_code ec;
  fs::remove(marker, ec);
  auto temp = cache_dir / "tree.new";
  for (const auto& old : {tree, temp}) {
    fs::remove_all(old, ec);
    if (ec) return fail("clearing {}: {}", old.string(), ec.message());
  }
  // GNU cp keeps modes, owners, times, hard links, special files and sparse files: what the
  // image holds, as it holds it.
  MOS_TRY(run_checked(ProcessRun{
      .argv = {"cp", "-a", "--no-preserve=context", "--", source.string(), temp.string()},
      .what = fmt::format("copying {} to {}", source.string(), temp.string())}));
  MOS_TRY(shift_one(temp, shift));
  for (auto it = fs::recursive_directory_iterator(temp, ec); !ec && it != fs::end(it);
       it.increment(ec))
    MOS_TRY(shift_one(it->path(), shift));
  if (ec) return fail("walking {}: {}", temp.string(), ec.message());
  // The copy's data reaches the disk before its name and marker do: after a power cut (a VM
  // stopped with -f) a marker must never vouch for files ext4 had not written yet.
  {
    UniqueFd dir(::open(temp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir || ::syncfs(dir.get()) != 0)
      return fail("flushing {} to disk: {}", temp.string(), errno_message(errno));
  }
  fs::rename(temp, tree, ec);
  if (ec) return fail("renaming {}: {}", temp.string(), ec.message());
  MOS_TRY(fsync_dir(cache_dir));
  MOS_TRY(write_file_atomic(marker, want, 0600));
  return tree;
}

}  // namespace mos::atomfs
