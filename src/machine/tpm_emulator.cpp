#include "machine/tpm_emulator.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "core/file.hpp"
#include "core/process.hpp"
#include "machine/detached_process.hpp"
#include "machine/tpm_relay.hpp"

namespace mos::machine {
namespace {

bool is_tpm2(const TpmFiles& tpm) {
  return tpm.version != "1.2";
}

fs::path permall(const TpmFiles& tpm) {
  return tpm.state_dir / (is_tpm2(tpm) ? "tpm2-00.permall" : "tpm-00.permall");
}

fs::path setup_done_marker(const TpmFiles& tpm) {
  return tpm.state_dir / "setup-done";
}

bool relayed(const TpmFiles& tpm) {
  return is_tpm2(tpm) && !tpm.swtpm_socket.empty();
}

void stop_now(pid_t pid) {
  ::kill(pid, SIGTERM);
  if (auto fd = open_pidfd(pid); fd && !wait_for_exit(fd->get(), std::chrono::seconds(5)))
    ::kill(pid, SIGKILL);
}

}  // namespace

std::vector<std::string> swtpm_setup_argv(const TpmFiles& tpm) {
  auto dir = tpm.state_dir.string();
  std::vector<std::string> argv{"swtpm_setup"};
  if (is_tpm2(tpm)) argv.insert(argv.end(), {"--tpm2", "--pcr-banks", "sha256"});
  argv.insert(argv.end(),
              {"--tpmstate", dir, "--config", dir + "/swtpm_setup.conf", "--log",
               dir + "/setup.log", "--createek", "--create-ek-cert", "--create-platform-cert",
               "--lock-nvram", "--not-overwrite", "--write-ek-cert-files", dir});
  return argv;
}

std::vector<std::string> swtpm_argv(const TpmFiles& tpm) {
  std::vector<std::string> argv{"swtpm", "socket"};
  if (is_tpm2(tpm)) argv.push_back("--tpm2");
  argv.insert(
      argv.end(),
      {"--tpmstate", fmt::format("dir={}", tpm.state_dir.string()), "--ctrl",
       fmt::format("type=unixio,path={}", (relayed(tpm) ? tpm.swtpm_socket : tpm.socket).string()),
       "--log", fmt::format("file={}/swtpm.log,level=1", tpm.state_dir.string()), "--pid",
       fmt::format("file={}", tpm.pidfile.string()), "--terminate", "--daemon"});
  return argv;
}

Status setup_tpm(const TpmFiles& tpm) {
  std::error_code ec;
  if (fs::exists(setup_done_marker(tpm), ec)) return {};
  // A setup that was interrupted left partial state: start over.
  for (fs::directory_iterator it(tpm.state_dir, ec), end; !ec && it != end; it.increment(ec))
    fs::remove_all(it->path(), ec);
  MOS_TRY(make_dirs(tpm.state_dir, 0700));
  auto dir = tpm.state_dir.string();
  MOS_TRY(make_dirs(tpm.state_dir / "localca", 0700));
  MOS_TRY(write_file_atomic(tpm.state_dir / "swtpm-localca.conf",
                            fmt::format("statedir = {0}/localca\n"
                                        "signingkey = {0}/localca/signkey.pem\n"
                                        "issuercert = {0}/localca/issuercert.pem\n"
                                        "certserial = {0}/localca/certserial\n",
                                        dir),
                            0600));
  MOS_TRY(write_file_atomic(tpm.state_dir / "swtpm-localca.options",
                            "--platform-manufacturer MachineOS\n--platform-version 2.1\n"
                            "--platform-model QEMU\n",
                            0600));
  MOS_TRY(write_file_atomic(tpm.state_dir / "swtpm_setup.conf",
                            fmt::format("create_certs_tool = swtpm_localca\n"
                                        "create_certs_tool_config = {0}/swtpm-localca.conf\n"
                                        "create_certs_tool_options = {0}/swtpm-localca.options\n",
                                        dir),
                            0600));
  ProcessRun run{.argv = swtpm_setup_argv(tpm),
                 .timeout = std::chrono::minutes(2),
                 .merge_stderr = true,
                 .what = "swtpm_setup"};
  auto result = run_checked(run);
  if (!result) {
    auto log = read_file(tpm.state_dir / "setup.log", 1 << 20);
    return fail("setting up the TPM in {}: {}{}", dir, result.error().message,
                log ? fmt::format("\n{}", *log) : std::string());
  }
  if (!fs::exists(permall(tpm), ec))
    return fail("swtpm_setup left no {} in {}", permall(tpm).filename().string(), dir);
  return write_file_atomic(setup_done_marker(tpm), "", 0600);
}

std::optional<pid_t> running_tpm(const TpmFiles& tpm) {
  return live_pid_from_file(tpm.pidfile, tpm.state_dir.string());
}

Result<pid_t> start_tpm(const TpmFiles& tpm) {
  // Left by a VM that was killed: nobody else may use this state.
  if (auto old = running_tpm(tpm)) stop_now(*old);
  std::error_code ec;
  fs::remove(tpm.socket, ec);
  if (relayed(tpm)) fs::remove(tpm.swtpm_socket, ec);
  fs::remove(tpm.pidfile, ec);
  auto log = tpm.state_dir / "swtpm.out";
  MOS_TRY_ASSIGN(pid_t launcher, spawn_detached(swtpm_argv(tpm), log));
  int status = 0;
  while (::waitpid(launcher, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    auto text = read_file(log, 64 * 1024);
    return fail("swtpm did not start (status {}): {}", status, text ? *text : std::string());
  }
  auto pid = running_tpm(tpm);
  auto control = relayed(tpm) ? tpm.swtpm_socket : tpm.socket;
  if (!pid || !fs::exists(control, ec))
    return fail("swtpm reported success but does not run with socket {}", control.string());
  if (relayed(tpm)) {
    auto relay = start_tpm_relay(
        {.listen = tpm.socket, .swtpm = tpm.swtpm_socket, .log = tpm.state_dir / "relay.log"});
    if (!relay) {
      stop_now(*pid);
      return std::unexpected(relay.error());
    }
  }
  return *pid;
}

}  // namespace mos::machine
