#include "machine/vm_instance.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/lock.hpp"
#include "core/process.hpp"
#include "machine/accelerator.hpp"
#include "machine/detached_process.hpp"
#include "machine/firmware.hpp"
#include "machine/host_ports.hpp"
#include "machine/machine_store.hpp"
#include "machine/qemu_command.hpp"
#include "machine/qmp_client.hpp"
#include "machine/tpm_emulator.hpp"

namespace mos::machine {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

TpmFiles tpm_files(const MachinePaths& paths, const MachineConfig& config) {
  return TpmFiles{.state_dir = paths.tpm_dir,
                  .socket = paths.tpm_socket,
                  .swtpm_socket = paths.swtpm_socket,
                  .pidfile = paths.swtpm_pidfile,
                  .version = config.tpm_version.empty() ? "2.0" : config.tpm_version};
}

std::optional<pid_t> running_qemu(const MachinePaths& paths) {
  // qemu holds a lock on its pidfile while it runs: a stale file or a reused pid never counts.
  auto holder = lock_holder_pid(paths.qemu_pidfile);
  if (!holder) return std::nullopt;
  return static_cast<pid_t>(*holder);
}

// qemu's last error line in its log, if the latest run left one.
std::string qemu_error(const MachinePaths& paths) {
  auto log = read_file(paths.qemu_log, 1 << 20);
  if (!log) return {};
  std::string last;
  std::size_t start = 0;
  while (start < log->size()) {
    auto end = log->find('\n', start);
    if (end == std::string::npos) end = log->size();
    auto line = log->substr(start, end - start);
    // qemu prefixes its errors with its name; other lines are information ("VNC server running
    // on ..."), and warnings or the note of a signal that ended it are no failure.
    bool error = (line.starts_with("qemu") && line.find(": ") != std::string::npos) ||
                 line.starts_with("cannot run the program");
    if (error && line.find(": warning: ") == std::string::npos &&
        line.find("terminating on signal") == std::string::npos)
      last = line;
    start = end + 1;
  }
  return last;
}

Status prepare_disks(const MachineConfig& config, const fs::path& run_dir) {
  std::error_code ec;
  for (const auto& disk : config.disks) {
    auto path = disk_path(disk, run_dir);
    if (fs::exists(path, ec)) continue;
    if (disk.size == 0 || disk.type == "cdrom")
      return fail("disk {} does not exist (give it a size to have it created)", path.string());
    MOS_TRY(make_dirs(path.parent_path(), 0700));
    ProcessRun run{
        .argv = {"qemu-img", "create", "-q", "-f", disk.format.empty() ? "qcow2" : disk.format,
                 path.string(), std::to_string(disk.size)},
        .timeout = 2min,
        .merge_stderr = true};
    MOS_TRY(with_context(run_checked(run), fmt::format("creating disk {}", path.string())));
  }
  if (!config.cdrom.empty() && !fs::exists(config.cdrom, ec))
    return fail("cdrom {} does not exist", config.cdrom);
  return {};
}

Status write_cloud_init(const MachineConfig& config, const fs::path& seed) {
  MOS_TRY(make_dirs(seed, 0700));
  auto meta = config.cloud_init.meta_data.empty()
                  ? fmt::format("instance-id: {0}\nlocal-hostname: {0}\n", config.name)
                  : config.cloud_init.meta_data;
  MOS_TRY(write_file_atomic(seed / "meta-data", meta, 0600));
  MOS_TRY(write_file_atomic(seed / "user-data", config.cloud_init.user_data, 0600));
  if (!config.cloud_init.network_config.empty())
    MOS_TRY(write_file_atomic(seed / "network-config", config.cloud_init.network_config, 0600));
  return {};
}

std::string owner_of(const MachineHome& home, const std::string& self, const HostPort& port) {
  for (const auto& name : defined_machines(home)) {
    if (name == self) continue;
    MachinePaths other(home, name);
    auto definition = load_definition(other);
    if (!definition || !running_qemu(other)) continue;
    for (const auto& used : host_ports(*definition))
      if (used == port) return name;
  }
  return {};
}

void stop_tpm(const TpmFiles& tpm, std::chrono::milliseconds grace) {
  auto pid = running_tpm(tpm);
  if (!pid) return;
  auto fd = open_pidfd(*pid);
  if (!fd) return;
  // swtpm ends by itself once qemu closes its control channel (--terminate).
  if (wait_for_exit(fd->get(), grace)) return;
  ::kill(*pid, SIGTERM);
  if (!wait_for_exit(fd->get(), 5s)) ::kill(*pid, SIGKILL);
}

// Waits for qemu's QMP to report the VM running; fails early when qemu exits.
Status wait_until_running(pid_t qemu, const MachinePaths& paths, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(qemu, &status, WNOHANG);
    if (done == qemu) {
      auto error = qemu_error(paths);
      return fail("qemu exited at once ({}): {}",
                  WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                                    : fmt::format("signal {}", WTERMSIG(status)),
                  error.empty() ? std::string("it wrote nothing") : error);
    }
    if (auto qmp = QmpClient::connect(paths.qmp_socket, 2s)) {
      auto state = qmp->execute("query-status");
      if (state && state->value("status", "") == "running") return {};
    }
    if (Clock::now() > deadline) return fail("qemu did not start the VM within the time limit");
    std::this_thread::sleep_for(20ms);
  }
}

Status wait_for_console(const MachinePaths& paths, Clock::time_point deadline) {
  std::error_code ec;
  while (fs::file_size(paths.console_log, ec) == 0 || ec) {
    if (!running_qemu(paths)) return fail("the VM stopped before it wrote to its console");
    if (Clock::now() > deadline)
      return fail("the VM wrote nothing on its console within the time limit");
    std::this_thread::sleep_for(20ms);
  }
  return {};
}

}  // namespace

const char* state_name(VmState state) {
  switch (state) {
    case VmState::running:
      return "running";
    case VmState::failed:
      return "failed";
    case VmState::stopped:
      break;
  }
  return "stopped";
}

VmStatus vm_status(const MachinePaths& paths) {
  VmStatus status;
  if (auto pid = running_qemu(paths)) {
    status.state = VmState::running;
    status.qemu_pid = *pid;
    return status;
  }
  if (auto error = qemu_error(paths); !error.empty()) {
    status.state = VmState::failed;
    status.reason = error;
  }
  return status;
}

Status start_vm(const MachineHome& home, const MachineDefinition& definition,
                const MachinePaths& paths, const StartOptions& options) {
  const auto& config = definition.config;
  if (auto pid = running_qemu(paths))
    return fail("machine {} is already running (qemu pid {})", paths.name, *pid);
  MOS_TRY(validate_definition(definition));
  MOS_TRY_ASSIGN(auto firmware, select_firmware(config, paths.config_dir, default_firmware_dirs()));
  MOS_TRY(make_dirs(paths.run_dir, 0700));
  MOS_TRY(prepare_socket_dir(paths));
  MOS_TRY(prepare_nvram(firmware, paths.uefi_vars));
  MOS_TRY(prepare_disks(config, paths.run_dir));
  MOS_TRY(check_host_ports(definition,
                           [&](const HostPort& port) { return owner_of(home, paths.name, port); }));
  if (!config.cloud_init.empty()) MOS_TRY(write_cloud_init(config, paths.run_dir / "seed"));

  QemuLaunch launch{.accel = probe_accelerator({.cache_dir = home.cache_dir,
                                                .uefi_code = firmware.code,
                                                .uefi_vars = firmware.vars_template}),
                    .run_dir = paths.run_dir,
                    .qmp_socket = paths.qmp_socket,
                    .console_socket = paths.console_socket,
                    .console_log = paths.console_log,
                    .pidfile = paths.qemu_pidfile,
                    .uefi_code = firmware.code,
                    .uefi_vars = paths.uefi_vars,
                    .tpm_socket = paths.tpm_socket,
                    .cloud_init_dir = paths.run_dir / "seed"};
  MOS_TRY_ASSIGN(auto argv, qemu_argv(definition, launch));

  auto tpm = tpm_files(paths, config);
  if (config.tpm) {
    MOS_TRY(setup_tpm(tpm));
    MOS_TRY(start_tpm(tpm));
  }
  // Each start has its own console log and qemu log; the previous console log is kept beside.
  std::error_code ec;
  fs::rename(paths.console_log, fs::path(paths.console_log).concat(".1"), ec);
  for (const auto& stale : {paths.qemu_log, paths.qmp_socket, paths.console_socket})
    fs::remove(stale, ec);
  MOS_TRY(write_file_atomic(paths.run_dir / "qemu.cmdline",
                            fmt::format("{}\n", fmt::join(argv, "\n")), 0600));

  spdlog::debug("starting {}", fmt::join(argv, " "));
  auto deadline = Clock::now() + options.timeout;
  auto qemu = spawn_detached(argv, paths.qemu_log);
  Status started =
      qemu ? wait_until_running(*qemu, paths, deadline) : Status(std::unexpected(qemu.error()));
  if (started && options.wait_for_console) started = wait_for_console(paths, deadline);
  if (!started) {
    if (qemu) {
      // Still our child until reaped, so its pid cannot have been reused: kill it whatever state
      // it reached (it may not have written its pidfile yet).
      int status = 0;
      if (::waitpid(*qemu, &status, WNOHANG) == 0) {
        ::kill(*qemu, SIGKILL);
        ::waitpid(*qemu, &status, 0);
      }
    }
    stop_tpm(tpm, 0ms);
    return context(fmt::format("starting machine {}", paths.name), started.error());
  }
  return {};
}

Status stop_vm(const MachinePaths& paths, const StopOptions& options) {
  auto pid = running_qemu(paths);
  TpmFiles tpm{.state_dir = paths.tpm_dir,
               .socket = paths.tpm_socket,
               .swtpm_socket = paths.swtpm_socket,
               .pidfile = paths.swtpm_pidfile};
  if (!pid) {
    stop_tpm(tpm, 0ms);
    return {};
  }
  MOS_TRY_ASSIGN(auto pidfd, open_pidfd(*pid));
  bool gone = false;
  if (auto qmp = QmpClient::connect(paths.qmp_socket)) {
    if (!options.force && qmp->execute("system_powerdown")) {
      gone = wait_for_exit(pidfd.get(), options.timeout);
      if (!gone)
        spdlog::warn("machine {} did not power off within {} s: quitting it", paths.name,
                     options.timeout.count());
    }
    if (!gone) {
      (void)qmp->execute("quit", Json::object(), 5s);
      gone = wait_for_exit(pidfd.get(), 10s);
    }
  }
  if (!gone) {
    ::kill(*pid, SIGKILL);
    if (!wait_for_exit(pidfd.get(), 10s)) return fail("qemu (pid {}) did not end", *pid);
  }
  stop_tpm(tpm, 5s);
  std::error_code ec;
  for (const auto& socket :
       {paths.qmp_socket, paths.console_socket, paths.tpm_socket, paths.swtpm_socket})
    fs::remove(socket, ec);
  return {};
}

}  // namespace mos::machine
