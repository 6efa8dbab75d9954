// A run script's container: namespaces, the overlay rootfs and its mounts, made in a forked child
// (only system calls on strings prepared before the fork), and the script's output streamed back.
#include "stacker/build_container.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <regex>

#include "core/file.hpp"
#include "core/unique_fd.hpp"
#include "stacker/layer_tree.hpp"

extern char** environ;

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kOutputTail = 4096;
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

enum class MountKind { bind, proc, dev };

struct PlannedMount {
  std::string source;  // on the host
  std::string target;  // absolute, inside rootfs
  std::string inside;  // the path as the container sees it (recorded when created)
  MountKind kind;
  bool file = false;
  bool read_only = true;
  bool recursive = false;
};

// In the child: report what failed on the output pipe, then exit 126 (the container's set-up
// failed, not the script). Only write(2) and _exit.
[[noreturn]] void die(const char* what, const char* path) {
  int e = errno;
  auto put = [](const char* s) { (void)!::write(STDERR_FILENO, s, std::strlen(s)); };
  put("mos build container: ");
  put(what);
  put(" ");
  put(path);
  put(": ");
  put(std::strerror(e));
  put("\n");
  ::_exit(126);
}

// Makes `path` (a directory or an empty file) when it does not exist, its parents first; records
// each made path (as the container sees it) on `record_fd`.
void make_point(const std::string& target, const std::string& inside, bool file, int record_fd) {
  // Parents: walk the container path's prefixes. The strings below were sized before the fork
  // (std::string in a forked child of a threaded parent is avoided: no allocation here).
  char buffer[PATH_MAX];
  const std::size_t root_len = target.size() - inside.size();
  if (target.size() >= sizeof buffer) die("path too long", target.c_str());
  std::memcpy(buffer, target.c_str(), target.size() + 1);
  for (std::size_t i = root_len + 1; i <= target.size(); ++i) {
    if (buffer[i] != '/' && buffer[i] != '\0') continue;
    char saved = buffer[i];
    buffer[i] = '\0';
    struct stat st{};
    if (::lstat(buffer, &st) != 0) {
      bool leaf = saved == '\0';
      int rc = leaf && file ? ::close(::open(buffer, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644))
                            : ::mkdir(buffer, 0755);
      if (rc != 0) die("cannot make the mount point", buffer);
      (void)!::write(record_fd, buffer + root_len, std::strlen(buffer + root_len));
      (void)!::write(record_fd, "\n", 1);
    }
    buffer[i] = saved;
  }
}

void do_mount(const char* source, const char* target, const char* type, unsigned long flags,
              const char* data) {
  if (::mount(source, target, type, flags, data) != 0) die("cannot mount", target);
}

[[noreturn]] void container_init(const BuildContainer& c, const std::string& overlay_options,
                                 const std::vector<PlannedMount>& mounts,
                                 const std::vector<std::string>& device_targets,
                                 const std::vector<const char*>& argv,
                                 const std::vector<const char*>& envp, int record_fd) {
  if (::chdir(c.work_dir.c_str()) != 0) die("cannot enter", c.work_dir.c_str());
  do_mount("overlay", c.rootfs.c_str(), "overlay", 0, overlay_options.c_str());
  for (const auto& m : mounts) {
    make_point(m.target, m.inside, m.file, record_fd);
    switch (m.kind) {
      case MountKind::proc:
        do_mount("proc", m.target.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
        break;
      case MountKind::dev:
        do_mount("tmpfs", m.target.c_str(), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755");
        for (std::size_t i = 0; i < std::size(kDevices); ++i) {
          int fd = ::open(device_targets[i].c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
          if (fd < 0) die("cannot make", device_targets[i].c_str());
          ::close(fd);
          char host[32] = "/dev/";
          std::strcat(host, kDevices[i]);
          do_mount(host, device_targets[i].c_str(), nullptr, MS_BIND, nullptr);
        }
        break;
      case MountKind::bind: {
        unsigned long rec = m.recursive ? MS_REC : 0;
        do_mount(m.source.c_str(), m.target.c_str(), nullptr, MS_BIND | rec, nullptr);
        if (m.read_only) {
          // In a user namespace a remount must keep the flags the source was mounted with
          // (nosuid, nodev, noexec are locked there).
          struct statvfs vfs{};
          if (::statvfs(m.target.c_str(), &vfs) != 0)
            die("cannot read the mount", m.target.c_str());
          unsigned long kept = 0;
          if (vfs.f_flag & ST_NOSUID) kept |= MS_NOSUID;
          if (vfs.f_flag & ST_NODEV) kept |= MS_NODEV;
          if (vfs.f_flag & ST_NOEXEC) kept |= MS_NOEXEC;
          do_mount(nullptr, m.target.c_str(), nullptr,
                   MS_BIND | MS_REMOUNT | MS_RDONLY | rec | kept, nullptr);
        }
        break;
      }
    }
  }
  ::close(record_fd);
  if (::sethostname("stacker", 7) != 0) die("cannot set the hostname", "stacker");
  if (::chroot(c.rootfs.c_str()) != 0) die("cannot chroot to", c.rootfs.c_str());
  if (::chdir("/") != 0) die("cannot enter", "/");
  ::execve(argv[0], const_cast<char* const*>(argv.data()), const_cast<char* const*>(envp.data()));
  if (errno == ENOENT)
    die("cannot run the script (is its interpreter, /bin/sh by default, in the image?)", argv[0]);
  die("cannot run", argv[0]);
}

// Keeps the last kOutputTail bytes written by the script, starting at a line.
std::string tail_lines(const std::string& out) {
  if (out.size() <= kOutputTail) return out;
  std::string tail = out.substr(out.size() - kOutputTail);
  auto nl = tail.find('\n');
  return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

}  // namespace

Result<std::vector<std::string>> run_environment(
    const std::string& layer, const std::vector<std::pair<std::string, std::string>>& build_env,
    const std::vector<std::string>* passthrough) {
  static const std::vector<std::string> kDefault = {
      "ftp_proxy",  "http_proxy",  "https_proxy", "no_proxy", "FTP_PROXY",
      "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",    "TERM",     "SOURCE_DATE_EPOCH"};
  std::vector<std::regex> patterns;
  try {
    for (const auto& p : passthrough ? *passthrough : kDefault)
      patterns.emplace_back(passthrough ? "^(" + p + ")$" : "^" + p + "$");
  } catch (const std::regex_error& e) {
    return fail("build_env_passthrough: not a regular expression: {}", e.what());
  }
  std::vector<std::string> env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(entry.substr(0, eq));
    for (const auto& re : patterns)
      if (std::regex_match(name, re)) {
        env.emplace_back(entry);
        break;
      }
  }
  auto set = [&](const std::string& name, const std::string& value) {
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(name + "="); });
    env.push_back(name + "=" + value);
  };
  for (const auto& [k, v] : build_env) set(k, v);
  set("STACKER_LAYER_NAME", layer);
  return env;
}

Result<ContainerRun> run_build_container(const BuildContainer& c) {
  // Everything the child needs is made here, before the fork.
  std::string lowers;
  for (const auto& l : c.lowers) lowers += (lowers.empty() ? "" : ":") + l.string();
  std::string overlay_options;
  if (c.lowers.empty()) {
    // overlayfs needs a lower: an empty directory stands for the scratch base.
    MOS_TRY(make_dirs(c.work_dir / "empty"));
    lowers = "empty";
  }
  overlay_options = fmt::format("lowerdir={},upperdir={},workdir={}", lowers, c.upper.string(),
                                c.overlay_work.string());
  if (overlay_marks_in_user_xattrs()) overlay_options += ",userxattr";
  if (overlay_options.size() >= 4000)
    return fail("image {}: {} layers are too many for one overlay mount", c.name, c.lowers.size());
  auto inside = [&](std::string_view p) {
    return (c.rootfs / fs::path(p).relative_path()).string();
  };
  std::vector<PlannedMount> mounts;
  mounts.push_back({"", inside("/proc"), "/proc", MountKind::proc});
  mounts.push_back({"", inside("/dev"), "/dev", MountKind::dev});
  mounts.push_back({"/sys", inside("/sys"), "/sys", MountKind::bind, false, true, true});
  std::error_code ec;
  if (fs::exists("/etc/resolv.conf", ec))
    mounts.push_back({"/etc/resolv.conf", inside("/etc/resolv.conf"), "/etc/resolv.conf",
                      MountKind::bind, true});
  mounts.push_back({c.imports.string(), inside(c.imports_at), c.imports_at, MountKind::bind});
  for (const auto& b : c.binds) {
    bool file = !fs::is_directory(b.source, ec);
    mounts.push_back({b.source.string(), inside(b.dest), b.dest, MountKind::bind, file, false});
  }
  std::vector<std::string> device_targets;
  for (const char* d : kDevices) device_targets.push_back(inside("/dev") + "/" + d);
  std::vector<const char*> argv, envp;
  for (const auto& a : c.argv) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  for (const auto& e : c.environment) envp.push_back(e.c_str());
  envp.push_back(nullptr);

  fs::path record = c.work_dir / ("created-" + c.name);
  UniqueFd record_fd(::open(record.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600));
  if (!record_fd) return fail("opening {}: {}", record.string(), errno_message(errno));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail("pipe: {}", errno_message(errno));
  UniqueFd out_read(pipe_fds[0]), out_write(pipe_fds[1]);

  pid_t pid = ::fork();
  if (pid < 0)
    return fail("starting the build container of {}: fork: {}", c.name, errno_message(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = ::open("/dev/null", O_RDONLY);
    if (null < 0 || ::dup2(null, STDIN_FILENO) < 0 || ::dup2(out_write.get(), STDOUT_FILENO) < 0 ||
        ::dup2(out_write.get(), STDERR_FILENO) < 0)
      ::_exit(126);
    if (::unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) != 0)
      die("cannot make the namespaces", "");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      die("cannot make the mounts private", "/");
    pid_t init = ::fork();
    if (init < 0) die("cannot fork", "");
    if (init == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      container_init(c, overlay_options, mounts, device_targets, argv, envp, record_fd.get());
    }
    int status = 0;
    while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  out_write.reset();
  std::string output;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(out_read.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    (void)!::write(STDERR_FILENO, buffer, static_cast<std::size_t>(n));
    output.append(buffer, static_cast<std::size_t>(n));
    if (output.size() > 4 * kOutputTail) output = tail_lines(output);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ContainerRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.output_tail = tail_lines(output);
  MOS_TRY_ASSIGN(auto created, read_file(record, 1 << 20));
  std::error_code ignore;
  fs::remove(record, ignore);
  std::size_t start = 0;
  for (std::size_t nl; (nl = created.find('\n', start)) != std::string::npos; start = nl + 1)
    run.created.push_back(created.substr(start, nl - start));
  return run;
}

}  // namespace mos::stacker
