#include "machine/tpm_relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <string_view>
#include <vector>

#include "core/file.hpp"
#include "core/unix_socket.hpp"
#include "machine/tpm_pcr_banks.hpp"

namespace mos::machine {
namespace {

// swtpm's frames are at most 4 KiB; anything that claims more is not a TPM frame, and the relay
// then passes the bytes on unframed, as they come.
constexpr std::size_t kMaxFrame = 1 << 20;

// The descriptors the relay's process keeps (after close_range).
constexpr int kListenFd = 3;
constexpr int kSwtpmControlFd = 4;

void report(std::string_view what) {
  std::string line = fmt::format("tpm relay: {}: {}\n", what, errno_message(errno));
  (void)!::write(2, line.data(), line.size());
}

std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

class TpmRelay {
 public:
  // The exit status of the relay's process: 0 when an end closed its control channel.
  int run();

 private:
  bool accept_qemu();
  bool pass_control_from_qemu();
  bool pass_control_from_swtpm();
  void pass_frames(int from, std::vector<std::uint8_t>& pending, bool commands);
  void close_data();

  int listen_ = kListenFd;
  int swtpm_control_ = kSwtpmControlFd;
  int qemu_control_ = -1;
  int qemu_data_ = -1;
  int swtpm_data_ = -1;
  bool framed_ = true;
  std::vector<std::uint8_t> commands_, responses_;  // a frame's start, until it is whole
  std::deque<bool> answers_allocation_;  // per command passed to swtpm: is it the PCR query?
};

bool TpmRelay::accept_qemu() {
  qemu_control_ = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
  if (qemu_control_ < 0) return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED;
  ::close(listen_);  // one VM, one connection
  listen_ = -1;
  return true;
}

bool TpmRelay::pass_control_from_qemu() {
  std::array<char, 4096> data;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control;
  iovec io{.iov_base = data.data(), .iov_len = data.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ssize_t n = ::recvmsg(qemu_control_, &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.push_back(fd);
    }
  }
  if (fds.empty()) return bool(send_all(swtpm_control_, {data.data(), std::size_t(n)}));
  // CMD_SET_DATAFD: qemu's end of its data channel stays here; swtpm gets one of a new pair.
  for (std::size_t i = 1; i < fds.size(); ++i) ::close(fds[i]);
  std::array<int, 2> pair;
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair.data()) < 0) {
    report("socketpair");
    return false;
  }
  close_data();
  qemu_data_ = fds[0];
  swtpm_data_ = pair[0];
  auto handed = send_with_descriptor(swtpm_control_, {data.data(), std::size_t(n)}, pair[1]);
  ::close(pair[1]);
  if (!handed) report("handing swtpm its data channel");
  return bool(handed);
}

bool TpmRelay::pass_control_from_swtpm() {
  std::array<char, 4096> data;
  ssize_t n = ::recv(swtpm_control_, data.data(), data.size(), MSG_DONTWAIT);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0 || qemu_control_ < 0) return false;
  return bool(send_all(qemu_control_, {data.data(), std::size_t(n)}));
}

// Reads what `from` has and passes every whole frame on; a response to the PCR query is
// rewritten. A data channel that breaks is closed on both sides, as qemu would see it.
void TpmRelay::pass_frames(int from, std::vector<std::uint8_t>& pending, bool commands) {
  int to = commands ? swtpm_data_ : qemu_data_;
  std::array<std::uint8_t, 65536> chunk;
  ssize_t n = ::recv(from, chunk.data(), chunk.size(), MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) return close_data();
  pending.insert(pending.end(), chunk.begin(), chunk.begin() + n);
  while (framed_) {
    auto size = tpm_frame_size(pending);
    if (!size) return;
    if (*size < 10 || *size > kMaxFrame) {
      framed_ = false;
      break;
    }
    if (pending.size() < *size) return;
    std::span<const std::uint8_t> frame(pending.data(), *size);
    std::optional<std::vector<std::uint8_t>> rewritten;
    if (commands) {
      answers_allocation_.push_back(asks_pcr_allocation(frame));
    } else if (!answers_allocation_.empty()) {
      if (answers_allocation_.front()) rewritten = with_active_pcr_banks_only(frame);
      answers_allocation_.pop_front();
    }
    bool sent = bool(send_all(to, as_text(rewritten ? *rewritten : frame)));
    pending.erase(pending.begin(), pending.begin() + *size);
    if (!sent) return close_data();
  }
  if (!send_all(to, as_text(pending))) close_data();
  pending.clear();
}

void TpmRelay::close_data() {
  for (int* fd : {&qemu_data_, &swtpm_data_}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  commands_.clear();
  responses_.clear();
  answers_allocation_.clear();
}

int TpmRelay::run() {
  for (;;) {
    std::array<pollfd, 4> fds{};
    int count = 0;
    auto watch = [&](int fd) {
      if (fd >= 0) fds[count++] = pollfd{.fd = fd, .events = POLLIN, .revents = 0};
    };
    watch(qemu_control_ >= 0 ? qemu_control_ : listen_);
    watch(swtpm_control_);
    watch(qemu_data_);
    watch(swtpm_data_);
    if (::poll(fds.data(), count, -1) < 0) {
      if (errno == EINTR) continue;
      report("poll");
      return 1;
    }
    // Each descriptor is looked up again: a step may close or replace the others, and a number
    // polled may now name a new descriptor, so every read is non-blocking.
    for (int i = 0; i < count; ++i) {
      if (!fds[i].revents) continue;
      int fd = fds[i].fd;
      if (fd == listen_ && listen_ >= 0) {
        if (!accept_qemu()) {
          report("accept");
          return 1;
        }
      } else if (fd == qemu_control_ && qemu_control_ >= 0) {
        if (!pass_control_from_qemu()) return 0;
      } else if (fd == swtpm_control_) {
        if (!pass_control_from_swtpm()) return 0;
      } else if (fd == qemu_data_ && qemu_data_ >= 0) {
        pass_frames(qemu_data_, commands_, true);
      } else if (fd == swtpm_data_ && swtpm_data_ >= 0) {
        pass_frames(swtpm_data_, responses_, false);
      }
    }
  }
}

// In the relay's process: its descriptors at fixed numbers, stdin and stdout on /dev/null,
// stderr on the log, nothing else inherited.
[[noreturn]] void become_relay(int listen, int swtpm, int log) {
  int null = ::open("/dev/null", O_RDWR);
  int high_listen = ::fcntl(listen, F_DUPFD, 100);
  int high_swtpm = ::fcntl(swtpm, F_DUPFD, 100);
  if (null < 0 || high_listen < 0 || high_swtpm < 0 || ::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 ||
      ::dup2(log, 2) < 0 || ::dup2(high_listen, kListenFd) < 0 ||
      ::dup2(high_swtpm, kSwtpmControlFd) < 0)
    ::_exit(127);
  ::close_range(kSwtpmControlFd + 1, ~0U, 0);
  // Named for ps and top (its command line stays the caller's), and holding no directory busy.
  ::prctl(PR_SET_NAME, "mos-tpm-relay");
  (void)!::chdir("/");
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::_exit(TpmRelay().run());
}

}  // namespace

Status start_tpm_relay(const TpmRelayFiles& files) {
  auto swtpm = connect_unix(files.swtpm);
  if (!swtpm)
    return fail("connecting to swtpm's control socket {}: {}", files.swtpm.string(),
                swtpm.error().message);
  MOS_TRY_ASSIGN(auto listen, listen_unix(files.listen, 1));
  UniqueFd log(::open(files.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) return fail("opening {}: {}", files.log.string(), errno_message(errno));
  // Forked twice: the relay belongs to init at once, and no caller has a child to reap.
  pid_t first = ::fork();
  if (first < 0) return fail("fork: {}", errno_message(errno));
  if (first == 0) {
    ::setsid();
    pid_t relay = ::fork();
    if (relay == 0) become_relay(listen.get(), swtpm->get(), log.get());
    ::_exit(relay < 0 ? 1 : 0);
  }
  int status = 0;
  while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail("the TPM relay for {} did not start", files.listen.string());
  return {};
}

}  // namespace mos::machine
