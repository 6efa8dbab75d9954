// mosctl boot, activate, stop and logs: the services of a machine, run by `mosctl boot` and
// reached through its control channel (docs/services.md).
#include <csignal>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/mosctl/commands.hpp"
#include "core/program_paths.hpp"
#include "runtime/apparmor_policy.hpp"
#include "runtime/boot_paths.hpp"
#include "runtime/control_channel.hpp"
#include "runtime/machine_boot.hpp"
#include "runtime/service_log.hpp"

namespace mos::cli {
namespace {

runtime::BootPaths boot_paths_of(const sysroot::SysrootOptions& options) {
  return runtime::BootPaths(sysroot::SysrootPaths(options.root));
}

Result<Json> ask(const sysroot::SysrootOptions& options, const Json& request) {
  sysroot::SysrootPaths paths(options.root);
  MOS_TRY(sysroot::check_root_choice(paths, options));
  return runtime::ask_boot(boot_paths_of(options).control, request, paths.root);
}

void print_restarts(const Json& answer) {
  auto list = [&](const char* key) {
    std::vector<std::string> names;
    for (const auto& n : answer.value(key, Json::array())) names.push_back(n.get<std::string>());
    return names;
  };
  auto stopped = list("stopped"), started = list("started");
  if (stopped.empty() && started.empty()) {
    std::printf("services: nothing to restart\n");
    return;
  }
  if (!stopped.empty())
    std::printf("stopped %s\n", fmt::format("{}", fmt::join(stopped, ", ")).c_str());
  if (!started.empty())
    std::printf("started %s\n", fmt::format("{}", fmt::join(started, ", ")).c_str());
}

}  // namespace

std::optional<Json> running_boot(const sysroot::SysrootOptions& options) {
  auto answer = runtime::ask_boot(boot_paths_of(options).control, Json{{"command", "status"}},
                                  options.root, std::chrono::seconds(20));
  if (!answer) return std::nullopt;
  answer->erase("ok");
  return *answer;
}

std::string format_services(const Json& services) {
  std::string out = fmt::format("services:\n  {:<16} {:<10} {:>7} {:>8} {:>8}  {:<15} {}\n", "NAME",
                                "STATE", "PID", "UPTIME", "RESTARTS", "ADDRESS", "PORTS");
  for (const auto& s : services) {
    std::string ports;
    for (const auto& p : s.value("ports", Json::array()))
      ports += fmt::format("{}{}->{}", ports.empty() ? "" : ",", p.value("host", 0),
                           p.value("container", 0));
    auto pid = s.contains("pid") ? std::to_string(s["pid"].get<long>()) : std::string("-");
    auto uptime = s.contains("uptime_seconds") ? fmt::format("{}s", s["uptime_seconds"].get<long>())
                                               : std::string("-");
    out += fmt::format("  {:<16} {:<10} {:>7} {:>8} {:>8}  {:<15} {}\n",
                       s.value("name", std::string()), s.value("state", std::string()), pid, uptime,
                       s.value("restarts", 0), s.value("address", std::string("-")),
                       ports.empty() ? "-" : ports);
    if (s.contains("address6"))
      out += fmt::format("    ipv6: {}\n", s["address6"].get<std::string>());
    if (s.contains("error")) out += fmt::format("    error: {}\n", s["error"].get<std::string>());
  }
  return out;
}

void reload_running_boot(const sysroot::SysrootOptions& options) {
  auto control = boot_paths_of(options).control;
  if (!runtime::boot_is_running(control)) return;
  auto answer = runtime::ask_boot(control, Json{{"command", "reload"}}, options.root);
  if (!answer) {
    spdlog::error("the running mosctl boot could not apply the change: {}", answer.error().message);
    return;
  }
  print_restarts(*answer);
}

void add_service_commands(Program& program, bool become_boot_program) {
  auto& app = program.app();
  static sysroot::SysrootOptions options;
  static std::string subnet = std::string(runtime::kDefaultSubnet);
  static std::string subnet6 = std::string(runtime::kDefaultSubnet6);
  static std::string bridge = "mosbr0";
  static unsigned stop_timeout = 10;
  static std::string id_shift = "auto";
  static std::string apparmor = std::string(runtime::kApparmorAuto);
  static std::string setup_after;
  static std::string booted_system;

  auto* boot = app.add_subcommand(
      "boot", "Bring the installed system up and supervise its services until SIGTERM");
  add_sysroot_options(boot, options);
  boot->add_option("--subnet", subnet, "The simple network's subnet")->capture_default_str();
  boot->add_option("--subnet6", subnet6,
                   "The simple network's IPv6 subnet, for services whose manifest names an ipv6")
      ->capture_default_str();
  boot->add_option("--bridge", bridge, "The simple network's bridge")->capture_default_str();
  boot->add_option("--stop-timeout", stop_timeout,
                   "Seconds a service has to stop after SIGTERM before it is killed")
      ->capture_default_str();
  boot->add_option("--id-shift", id_shift,
                   "How unprivileged containers own their image: idmapped layers where the "
                   "kernel can (auto), or always a copy with shifted owners (copy)")
      ->check(CLI::IsMember({"auto", "copy"}))
      ->capture_default_str();
  boot->add_option("--apparmor", apparmor,
                   "Each container's AppArmor profile: auto (where AppArmor is enabled, LXC's "
                   "lxc-container-default-cgns when loaded, else the one liblxc generates; none "
                   "elsewhere), generated, unchanged, unconfined or a loaded profile's name")
      ->capture_default_str();
  boot->add_option("--setup-after", setup_after,
                   "Wait (up to 60 s) until this file exists before setting the services up "
                   "(their AppArmor profile, their network): a machine's init creates it once "
                   "the kernel modules and AppArmor profiles they need are loaded")
      ->type_name("FILE");
  boot->add_option("--booted-system", booted_system,
                   "Start the services of the system in this file, which create-boot-fs "
                   "--hand-over wrote once it had verified it (a machine's initramfs), instead of "
                   "reading and verifying the history again; the file is removed once read")
      ->type_name("FILE");
  program.examples(boot, {{"Run the services of the system installed under /tmp/root",
                           "mosctl boot --root /tmp/root"},
                          {"In the background, then stop it and everything it made",
                           "mosctl boot --root /tmp/root & ...; kill -TERM %1"}});
  program.on_run(boot, [become_boot_program]() -> Status {
    if (become_boot_program) {
      if (auto lean = find_installed_companion(runtime::kBootProgram); !lean.empty()) {
        auto became = become_program(lean);
        spdlog::warn("{}; running boot in mosctl itself", became.error().message);
      }
    }
    sysroot::SysrootPaths paths(options.root);
    MOS_TRY(sysroot::check_root_choice(paths, options));
    runtime::BootOptions o;
    o.root = options;
    MOS_TRY_ASSIGN(o.subnet, runtime::Ipv4Subnet::parse(subnet));
    MOS_TRY_ASSIGN(o.subnet6, runtime::Ipv6Subnet::parse(subnet6));
    o.bridge = bridge;
    o.force_shifted_copy = id_shift == "copy";
    o.apparmor = apparmor;
    o.stop_timeout = std::chrono::seconds(stop_timeout);
    o.setup_after = setup_after;
    o.booted_system = booted_system;
    o.on_ready = [] {
      std::printf("mosctl boot: up\n");
      std::fflush(stdout);
    };
    return runtime::run_boot(o);
  });

  static std::string target;
  static bool force = false;
  auto* activate = app.add_subcommand(
      "activate", "Start a target of the running system, or restart it if its image changed");
  add_sysroot_options(activate, options);
  activate->add_option("-t,--target", target, "The target")->required();
  activate->add_flag("--force", force, "Restart it even when nothing changed");
  program.examples(activate,
                   {{"Run the installed version of zot after an update",
                     "mosctl activate --root /tmp/root --target zot"},
                    {"Restart it anyway", "mosctl activate -r /tmp/root -t zot --force"}});
  program.on_run(activate, []() -> Status {
    MOS_TRY_ASSIGN(
        auto answer,
        ask(options, Json{{"command", "activate"}, {"target", target}, {"force", force}}));
    print_restarts(answer);
    return {};
  });

  auto* stop = app.add_subcommand("stop", "Stop a service of the running system");
  add_sysroot_options(stop, options);
  stop->add_option("-t,--target", target, "The target")->required();
  program.examples(stop, {{"Stop zot until it is activated again",
                           "mosctl stop --root /tmp/root --target zot"}});
  program.on_run(stop, []() -> Status {
    MOS_TRY(ask(options, Json{{"command", "stop"}, {"target", target}}));
    std::printf("stopped %s\n", target.c_str());
    return {};
  });

  static bool follow = false;
  static std::size_t tail_bytes = 64 * 1024;
  auto* logs = app.add_subcommand("logs", "Show what a service printed (stdout and stderr)");
  add_sysroot_options(logs, options);
  logs->add_option("-t,--target", target, "The target")->required();
  logs->add_flag("-f,--follow", follow, "Keep printing what it prints");
  logs->add_option("--bytes", tail_bytes, "How much of the end to show")->capture_default_str();
  program.examples(logs, {{"What zot printed", "mosctl logs --root /tmp/root --target zot"},
                          {"Follow it", "mosctl logs -r /tmp/root -t zot -f"}});
  program.on_run(logs, []() -> Status {
    MOS_TRY_ASSIGN(auto answer, ask(options, Json{{"command", "logs"}, {"target", target}}));
    std::filesystem::path path = answer.value("path", std::string());
    MOS_TRY_ASSIGN(auto text, runtime::read_log_tail(path, tail_bytes));
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (!follow) return {};
    std::signal(SIGPIPE, SIG_DFL);
    return runtime::follow_log(path, [](std::string_view bytes) {
      std::fwrite(bytes.data(), 1, bytes.size(), stdout);
      std::fflush(stdout);
      return !std::ferror(stdout);
    });
  });
}

}  // namespace mos::cli
