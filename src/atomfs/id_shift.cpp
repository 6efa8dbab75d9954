#include "atomfs/id_shift.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "core/file.hpp"

namespace mos::atomfs {
namespace {

Status write_map(pid_t pid, const char* file, const IdShift& shift) {
  auto path = fmt::format("/proc/{}/{}", pid, file);
  auto line = fmt::format("0 {} {}\n", shift.host_base, shift.count);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return fail("writing {} ({}): {}", path, line.substr(0, line.size() - 1), errno_message(errno));
  return {};
}

}  // namespace

Result<UniqueFd> user_namespace_for(const IdShift& shift) {
  if (shift.count == 0 || shift.host_base + shift.count > (1ULL << 32))
    return fail("uid range {}+{} is not a valid host range", shift.host_base, shift.count);
  // A child enters a new user namespace and waits while we write its maps and open it; the
  // namespace outlives the child through our fd.
  int ready[2], done[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return fail("pipe: {}", errno_message(errno));
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(done, O_CLOEXEC) != 0) return fail("pipe: {}", errno_message(errno));
  UniqueFd done_r(done[0]), done_w(done[1]);
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork: {}", errno_message(errno));
  if (pid == 0) {
    // Our copies of the parent's ends, or the reads below never see the other side close.
    ::close(ready_r.get());
    ::close(done_w.get());
    char c = ::unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    (void)!::write(ready_w.get(), &c, 1);
    (void)!::read(done_r.get(), &c, 1);
    ::_exit(0);
  }
  ready_w.reset();
  done_r.reset();
  auto reap = [&] {
    done_w.reset();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  };
  char c = 'n';
  if (::read(ready_r.get(), &c, 1) != 1 || c != 'y') {
    reap();
    return fail("creating a user namespace failed (is user.max_user_namespaces 0?)");
  }
  Status maps = write_map(pid, "uid_map", shift);
  if (maps) maps = write_map(pid, "gid_map", shift);
  UniqueFd ns(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
  int open_errno = errno;
  reap();
  if (!maps) return std::unexpected(maps.error());
  if (!ns) return fail("opening the user namespace: {}", errno_message(open_errno));
  return ns;
}

std::expected<void, IdmapError> idmap_mount(const std::filesystem::path& mount_point,
                                            int userns_fd) {
  auto error = [&](std::string what, bool unsupported = false) {
    return std::unexpected(IdmapError{
        Error{fmt::format("{} of {}: {}", what, mount_point.string(), errno_message(errno))},
        unsupported});
  };
  UniqueFd tree(::open_tree(AT_FDCWD, mount_point.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!tree) return error("cloning the mount", errno == ENOSYS);
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<std::uint64_t>(userns_fd);
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    return error("making an idmapped mount", errno == EINVAL || errno == ENOSYS);
  // Nothing uses the fresh layer mount yet: swap it for its idmapped copy.
  if (::umount2(mount_point.c_str(), MNT_DETACH) != 0) return error("detaching the mount");
  if (::move_mount(tree.get(), "", AT_FDCWD, mount_point.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return error("attaching the idmapped mount");
  return {};
}

}  // namespace mos::atomfs
