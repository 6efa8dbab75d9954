#include "unit/tpm/swtpm_process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

extern char** environ;

namespace mos::tpm::testing {

namespace {

// Tries `op` (bind or connect) on a new TCP socket to 127.0.0.1:port; true when it succeeds.
template <class Op>
bool try_loopback_port(int port, Op op) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool done = op(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return done;
}

bool port_is_free(int port) {
  return try_loopback_port(port, ::bind);
}
bool port_accepts(int port) {
  return try_loopback_port(port, ::connect);
}

void stop(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

}  // namespace

std::optional<SwtpmProcess> SwtpmProcess::start() {
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> ports(20000, 60000);
  for (int attempt = 0; attempt < 10; ++attempt) {
    int port = ports(random) & ~1;
    if (!port_is_free(port) || !port_is_free(port + 1)) continue;
    auto state = TempDir::create();
    if (!state) {
      ADD_FAILURE() << state.error().message;
      return std::nullopt;
    }
    std::vector<std::string> args = {"swtpm",
                                     "socket",
                                     "--tpm2",
                                     "--server",
                                     fmt::format("type=tcp,port={},bindaddr=127.0.0.1", port),
                                     "--ctrl",
                                     fmt::format("type=tcp,port={},bindaddr=127.0.0.1", port + 1),
                                     "--tpmstate",
                                     fmt::format("dir={}", state->path().string()),
                                     "--flags",
                                     "not-need-init,startup-clear"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (::posix_spawnp(&pid, "swtpm", nullptr, nullptr, argv.data(), environ) != 0) {
      ADD_FAILURE() << "cannot start swtpm";
      return std::nullopt;
    }
    for (int wait = 0; wait < 200; ++wait) {
      if (port_accepts(port)) return SwtpmProcess(std::move(*state), pid, port);
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;  // lost the port race: try another
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop(pid);
  }
  ADD_FAILURE() << "swtpm did not start on any free port";
  return std::nullopt;
}

SwtpmProcess::SwtpmProcess(SwtpmProcess&& other) noexcept
    : state_(std::move(other.state_)), pid_(std::exchange(other.pid_, -1)), port_(other.port_) {}

SwtpmProcess::~SwtpmProcess() {
  stop(pid_);
}

std::string SwtpmProcess::tcti() const {
  return fmt::format("swtpm:host=127.0.0.1,port={}", port_);
}

}  // namespace mos::tpm::testing
