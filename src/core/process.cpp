#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string_view>
#include <utility>

#include "core/file.hpp"

extern char** environ;

namespace mos {
namespace {

using Clock = std::chrono::steady_clock;

// When the kernel has no pidfd_open (before Linux 5.3), the end of the child is noticed by
// asking waitpid this often.
constexpr int kExitPollMs = 10;
// What is read after the child exited: the pipe holds at most what the child wrote (a pipe
// grows to 1 MiB at most by default); whatever keeps writing beyond this is ignored.
constexpr std::size_t kMaxDrain = 4 * 1024 * 1024;
// run_checked's message ends with at most this much of the program's last words.
constexpr std::size_t kMessageLines = 20;
constexpr std::size_t kMessageBytes = 4096;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
  }
};

// The started child: killed and reaped on every path that leaves it behind, so no zombie and no
// orphan outlives run_process.
struct Child {
  pid_t pid = -1;
  bool reaped = false;
  int status = 0;
  int wait_error = 0;  // waitpid failed (ECHILD: SIGCHLD is ignored, or another waiter reaped it)
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid > 0 && !reaped) {
      ::kill(pid, SIGKILL);
      reap(0);
    }
  }
  // waitpid with `flags`; true once the child is reaped.
  bool reap(int flags) {
    for (;;) {
      pid_t got = ::waitpid(pid, &status, flags);
      if (got == pid) return reaped = true;
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {  // nothing left to kill or reap
        wait_error = errno;
        return reaped = true;
      }
      return false;
    }
  }
};

// The output of one stream within its bound: the first max bytes, or the last ones.
class Sink {
 public:
  Sink(std::string& text, const ProcessRun& run)
      : text_(text), max_(run.max_output), tail_(run.keep_tail) {}
  void add(const char* data, std::size_t n) {
    if (!tail_) {
      std::size_t room = max_ - std::min(max_, text_.size());
      if (n > room) truncated_ = true;
      text_.append(data, std::min(n, room));
      return;
    }
    text_.append(data, n);
    // Trimmed in batches, not on every read, so a chatty program costs no quadratic copying.
    if (text_.size() > max_ && text_.size() - max_ > std::max<std::size_t>(max_, 64 * 1024)) trim();
  }
  void trim() {
    if (text_.size() > max_) {
      truncated_ = true;
      text_.erase(0, text_.size() - max_);
    }
  }
  bool truncated() const { return truncated_; }

 private:
  std::string& text_;
  std::size_t max_;
  bool tail_;
  bool truncated_ = false;
};

// Reads what is there now into the sink, one read (or, to drain the pipe after the child ended,
// up to `limit` bytes: something it started may still be writing). At the end of the stream (or
// an error, the same to us) the descriptor is closed.
void read_available(Fd& fd, Sink& sink, std::size_t limit) {
  char buffer[65536];
  std::size_t total = 0;
  while (fd && total < limit) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      fd.reset();
      return;
    }
    sink.add(buffer, static_cast<std::size_t>(n));
    total += static_cast<std::size_t>(n);
  }
}

void read_once(Fd& fd, Sink& sink) {
  read_available(fd, sink, 1);
}

void drain(Fd& fd, Sink& sink) {
  read_available(fd, sink, kMaxDrain);
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

std::string duration_text(std::chrono::milliseconds t) {
  if (t.count() % 1000 == 0) return fmt::format("{} s", t.count() / 1000);
  return fmt::format("{} ms", t.count());
}

// The inherited environment without the variables unset or replaced, plus the ones set.
Result<std::vector<std::string>> environment(const ProcessRun& run, std::string_view what) {
  for (const auto& name : run.unset_env)
    if (name.empty() || name.find('=') != std::string::npos)
      return fail("cannot run {}: \"{}\" is not the name of an environment variable", what, name);
  for (const auto& set : run.set_env)
    if (auto eq = set.find('='); eq == 0 || eq == std::string::npos)
      return fail("cannot run {}: environment entry \"{}\" is not NAME=VALUE", what,
                  set.substr(0, eq));
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool drop = std::any_of(run.unset_env.begin(), run.unset_env.end(),
                            [&](const std::string& n) { return n == name; }) ||
                std::any_of(run.set_env.begin(), run.set_env.end(), [&](const std::string& s) {
                  return std::string_view(s).substr(0, s.find('=')) == name;
                });
    if (!drop) env.emplace_back(entry);
  }
  env.insert(env.end(), run.set_env.begin(), run.set_env.end());
  return env;
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == text.npos;
}

// The last lines of a program's output for a one-line error: trailing blank lines dropped, at
// most kMessageLines lines and kMessageBytes bytes, starting at a line (or character) boundary.
std::string_view last_words(std::string_view text) {
  auto end = text.find_last_not_of(" \t\r\n");
  if (end == text.npos) return {};
  text = text.substr(0, end + 1);
  std::size_t start = 0;
  std::size_t lines = 0;
  for (std::size_t i = text.size(); i-- > 0;) {
    if (text[i] == '\n' && ++lines == kMessageLines) {
      start = i + 1;
      break;
    }
  }
  if (text.size() - start > kMessageBytes) {
    start = text.size() - kMessageBytes;
    if (auto nl = text.find('\n', start); nl != text.npos) {
      start = nl + 1;
    } else {
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
        ++start;  // not in the middle of a UTF-8 character
    }
  }
  text = text.substr(start);
  return text.substr(std::min(text.size(), text.find_first_not_of(" \t\r\n")));
}

}  // namespace

Result<ProcessResult> run_process(const ProcessRun& run) {
  if (run.argv.empty()) return fail("no program to run");
  const std::string& what = run.what.empty() ? run.argv[0] : run.what;
  MOS_TRY_ASSIGN(auto env, environment(run, what));
  std::vector<char*> argv, envp;
  for (const auto& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  auto cannot_run = [&](int error) {
    return fail("cannot run {}: {}", what, errno_message(error));
  };

  // stdin is a socket, not a pipe, so that input meant for a child that exits (or closes its
  // stdin) without reading it can be refused by send(MSG_NOSIGNAL) instead of a SIGPIPE here.
  Fd input, child_input, out, child_out, err, child_err;
  int fds[2];
  if (run.input) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return cannot_run(errno);
    input.reset(fds[0]);
    child_input.reset(fds[1]);
  }
  if (::pipe2(fds, O_CLOEXEC) != 0) return cannot_run(errno);
  out.reset(fds[0]);
  child_out.reset(fds[1]);
  if (!run.merge_stderr) {
    if (::pipe2(fds, O_CLOEXEC) != 0) return cannot_run(errno);
    err.reset(fds[0]);
    child_err.reset(fds[1]);
  }
  for (const Fd* fd : {&input, &out, &err})
    if (*fd && !set_nonblocking(fd->get())) return cannot_run(errno);

  SpawnSetup spawn;
  if (run.input)
    posix_spawn_file_actions_adddup2(&spawn.actions, child_input.get(), 0);
  else
    posix_spawn_file_actions_addopen(&spawn.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&spawn.actions, child_out.get(), 1);
  posix_spawn_file_actions_adddup2(&spawn.actions,
                                   run.merge_stderr ? child_out.get() : child_err.get(), 2);
  // The child starts with no blocked signals and default dispositions, whatever this process
  // ignores (SIGPIPE in a server) or blocks (in a thread that waits for signals).
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&spawn.attributes, &none);
  posix_spawnattr_setsigdefault(&spawn.attributes, &all);
  posix_spawnattr_setflags(&spawn.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  Child child;
  int rc = ::posix_spawnp(&child.pid, argv[0], &spawn.actions, &spawn.attributes, argv.data(),
                          envp.data());
  child_input.reset();
  child_out.reset();
  child_err.reset();
  if (rc != 0) {
    child.pid = -1;
    if (rc == ENOENT && run.argv[0].find('/') == std::string::npos)
      return fail("{} is not installed (no such program in $PATH)", what);
    return cannot_run(rc);
  }

  // Readable once the child has exited (a zombie), so that its end is noticed even while
  // something it started keeps its output open.
  // (The system call itself: glibc 2.36's <sys/pidfd.h> declares pidfd_open without C linkage.)
  Fd exited(static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0)));

  ProcessResult result;
  Sink out_sink(result.out, run), err_sink(result.err, run);
  std::string_view pending = run.input ? std::string_view(*run.input) : std::string_view();
  if (pending.empty()) input.reset();
  const bool limited = run.timeout.count() > 0;
  const auto deadline = Clock::now() + run.timeout;
  bool timed_out = false;
  for (;;) {
    int wait_ms = -1;
    if (limited) {
      auto now = Clock::now();
      if (now >= deadline) {
        timed_out = true;
        break;
      }
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
      wait_ms = static_cast<int>(std::min<long long>(left, INT_MAX));
    }
    if (!exited) wait_ms = wait_ms < 0 ? kExitPollMs : std::min(wait_ms, kExitPollMs);
    pollfd polls[4] = {{input.get(), POLLOUT, 0},
                       {out.get(), POLLIN, 0},
                       {err.get(), POLLIN, 0},
                       {exited.get(), POLLIN, 0}};  // poll skips the negative ones
    int n = ::poll(polls, 4, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("waiting for {}: {}", what, errno_message(errno));
    if (input && polls[0].revents) {
      ssize_t sent = ::send(input.get(), pending.data(), pending.size(), MSG_NOSIGNAL);
      if (sent > 0) pending.remove_prefix(static_cast<std::size_t>(sent));
      // Done, or refused (EPIPE, ECONNRESET): a child that wants no more input has said so.
      bool again = sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK);
      if (pending.empty() || (sent <= 0 && !again)) input.reset();
    }
    if (out && polls[1].revents) read_once(out, out_sink);
    if (err && polls[2].revents) read_once(err, err_sink);
    if (exited ? (polls[3].revents != 0) : child.reap(WNOHANG)) break;
  }
  if (timed_out) {
    ::kill(child.pid, SIGKILL);
    child.reap(0);
    if (!run.timeout_message.empty()) return std::unexpected(Error{run.timeout_message});
    return fail("{} did not finish within {}: stopped it", what, duration_text(run.timeout));
  }
  // The child has ended: what it wrote is in the pipes now.
  input.reset();
  drain(out, out_sink);
  drain(err, err_sink);
  if (!child.reaped) child.reap(0);
  if (child.wait_error != 0)
    return fail("waiting for {}: {}", what, errno_message(child.wait_error));
  out_sink.trim();
  err_sink.trim();
  result.truncated = out_sink.truncated() || err_sink.truncated();
  if (WIFSIGNALED(child.status)) {
    result.signal = WTERMSIG(child.status);
    result.exit_code = 128 + *result.signal;
  } else {
    result.exit_code = WEXITSTATUS(child.status);
  }
  return result;
}

Result<std::string> run_checked(const ProcessRun& run) {
  MOS_TRY_ASSIGN(auto done, run_process(run));
  if (done.exit_code == 0 && !done.signal) return std::move(done.out);
  std::string how = done.signal ? fmt::format("was killed by signal {}", *done.signal)
                                : fmt::format("exited with status {}", done.exit_code);
  std::string_view said = last_words(blank(done.err) ? done.out : done.err);
  return fail("{} {}{}{}", run.what.empty() ? run.argv[0] : run.what, how, said.empty() ? "" : ": ",
              said);
}

}  // namespace mos
