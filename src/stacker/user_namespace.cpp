// The user namespace of a build by an ordinary user: a forked child unshares it, the parent maps
// its ids (newuidmap/newgidmap for the subordinate ranges, or its own id alone) and then only
// waits, passing on the signals a terminal or a supervisor sends.
#include "stacker/user_namespace.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <sstream>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "core/unique_fd.hpp"

namespace mos::stacker {
namespace {

volatile sig_atomic_t g_child = 0;

void pass_on(int signal) {
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), signal);
}

std::optional<std::uint32_t> parse_id(std::string_view text) {
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::string text_or_empty(const char* path) {
  auto text = read_file(path, 1 << 20);
  return text ? *text : std::string();
}

Status write_map(pid_t pid, const char* file, const std::string& text) {
  std::string path = fmt::format("/proc/{}/{}", pid, file);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return fail("writing {}: {}", path, errno_message(errno));
  return {};
}

// Maps the child's ids: the caller's as 0, its subordinate ranges after it when it has both.
Status map_ids(pid_t pid) {
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  std::string user;
  if (const passwd* pw = ::getpwuid(uid)) user = pw->pw_name;
  auto uids = find_subordinate_range(text_or_empty("/etc/subuid"), user, uid);
  auto gids = find_subordinate_range(text_or_empty("/etc/subgid"), user, uid);
  if (uids && gids) {
    auto map = [&](const char* tool, std::uint32_t own, const SubordinateRange& range) {
      return run_checked(
          ProcessRun{.argv = {tool, std::to_string(pid), "0", std::to_string(own), "1", "1",
                              std::to_string(range.first), std::to_string(range.count)},
                     .merge_stderr = true});
    };
    auto mapped_uids = map("newuidmap", uid, *uids);
    if (!mapped_uids)
      return context("mapping the build's user ids (Debian's uidmap package has newuidmap)",
                     mapped_uids.error());
    auto mapped_gids = map("newgidmap", gid, *gids);
    if (!mapped_gids) return context("mapping the build's group ids", mapped_gids.error());
    return {};
  }
  spdlog::warn(
      "{} has no subordinate ids in /etc/subuid and /etc/subgid: only your own ids are mapped "
      "(as root) in the build, and a run script's chown to another id fails",
      user.empty() ? std::to_string(uid) : user);
  MOS_TRY(write_map(pid, "setgroups", "deny"));
  MOS_TRY(write_map(pid, "uid_map", fmt::format("0 {} 1\n", uid)));
  return write_map(pid, "gid_map", fmt::format("0 {} 1\n", gid));
}

}  // namespace

std::optional<SubordinateRange> find_subordinate_range(std::string_view text, std::string_view user,
                                                       std::uint32_t id) {
  std::string own_id = std::to_string(id);
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto first_colon = line.find(':');
    auto second_colon = line.find(':', first_colon == std::string_view::npos ? 0 : first_colon + 1);
    if (first_colon == std::string_view::npos || second_colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, first_colon);
    if (name.empty() || (name != user && name != own_id)) continue;
    auto first = parse_id(line.substr(first_colon + 1, second_colon - first_colon - 1));
    auto count = parse_id(line.substr(second_colon + 1));
    if (first && count && *count > 0) return SubordinateRange{*first, *count};
  }
  return std::nullopt;
}

bool in_user_namespace() {
  auto map = read_file("/proc/self/uid_map", 4096);
  if (!map) return false;
  std::istringstream in(*map);
  std::uint64_t inside = 1, outside = 1, count = 0;
  in >> inside >> outside >> count;
  return !(inside == 0 && outside == 0 && count == 4294967295ULL);
}

Result<std::optional<int>> continue_in_user_namespace() {
  int ready_fds[2], mapped_fds[2];
  if (::pipe2(ready_fds, O_CLOEXEC) != 0 || ::pipe2(mapped_fds, O_CLOEXEC) != 0)
    return fail("pipe: {}", errno_message(errno));
  UniqueFd ready_read(ready_fds[0]), ready_write(ready_fds[1]);
  UniqueFd mapped_read(mapped_fds[0]), mapped_write(mapped_fds[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork: {}", errno_message(errno));
  if (pid == 0) {
    // The build must not outlive the process its caller waits for.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(128 + SIGTERM);
    ready_read.reset();
    mapped_write.reset();  // so that the read below ends if the parent goes away
    int error = ::unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    (void)!::write(ready_write.get(), &error, sizeof error);
    char mapped = 0;
    if (error != 0 || ::read(mapped_read.get(), &mapped, 1) != 1 || mapped != 1) ::_exit(125);
    return std::optional<int>();
  }
  ready_write.reset();
  mapped_read.reset();
  auto reap = [pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
  int error = 0;
  if (::read(ready_read.get(), &error, sizeof error) != sizeof error) {
    reap();
    return fail("the build's user namespace could not be made: its process ended");
  }
  if (error != 0) {
    reap();
    return fail(
        "making a user namespace for the build: {} (as an ordinary user the build needs "
        "unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)",
        errno_message(error));
  }
  if (auto mapped = map_ids(pid); !mapped) {
    ::kill(pid, SIGKILL);
    reap();
    return std::unexpected(mapped.error());
  }
  g_child = pid;
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::signal(signal, pass_on);
  char go = 1;
  (void)!::write(mapped_write.get(), &go, 1);
  mapped_write.reset();
  return std::optional<int>(reap());
}

}  // namespace mos::stacker
