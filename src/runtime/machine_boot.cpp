#include "runtime/machine_boot.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "atomfs/mount_image.hpp"
#include "core/file.hpp"
#include "core/program_paths.hpp"
#include "runtime/apparmor_policy.hpp"
#include "runtime/boot_paths.hpp"
#include "runtime/container_monitor.hpp"
#include "runtime/container_reaper.hpp"
#include "runtime/control_channel.hpp"
#include "runtime/installed_services.hpp"
#include "runtime/port_forwards.hpp"
#include "runtime/service_bridge.hpp"
#include "runtime/service_runner.hpp"
#include "runtime/storage_volumes.hpp"
#include "runtime/tree_read_ahead.hpp"
#include "sysroot/boot_trial.hpp"
#include "sysroot/booted_system.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The most of the services' shifted copies read ahead at a boot (tree_read_ahead.hpp).
constexpr std::uint64_t kReadAheadBudget = 256ull << 20;

// Signals arrive through a signalfd, read in the loop: no handler runs at an awkward moment.
class SignalChannel {
 public:
  static Result<SignalChannel> open() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    sigset_t old;
    if (::sigprocmask(SIG_BLOCK, &set, &old) != 0)
      return fail("sigprocmask: {}", errno_message(errno));
    UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd) return fail("signalfd: {}", errno_message(errno));
    return SignalChannel(std::move(fd), old);
  }
  SignalChannel(SignalChannel&&) = default;
  ~SignalChannel() {
    if (fd_) ::sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_.get(); }
  // The signals received since the last call.
  std::vector<int> take() {
    std::vector<int> out;
    signalfd_siginfo info;
    while (::read(fd_.get(), &info, sizeof info) == sizeof info)
      out.push_back(static_cast<int>(info.ssi_signo));
    return out;
  }

 private:
  SignalChannel(UniqueFd fd, sigset_t old) : fd_(std::move(fd)), old_(old) {}
  UniqueFd fd_;
  sigset_t old_;
};

// What a boot that died (kill -9, power loss of a test) left mounted under its run directory:
// unmounted deepest first before anything new is mounted there.
void unmount_leftovers(const fs::path& run) {
  auto points = atomfs::mount_points();
  if (!points) return;
  std::vector<fs::path> ours;
  auto prefix = run.string() + "/";
  for (const auto& p : *points)
    if (p.string().starts_with(prefix)) ours.push_back(p);
  std::ranges::sort(ours, [](const fs::path& a, const fs::path& b) {
    return a.string().size() > b.string().size();
  });
  for (const auto& p : ours) {
    spdlog::warn("unmounting {}, left by an earlier boot", p.string());
    ::umount2(p.c_str(), MNT_DETACH);
  }
}

Status install_rules_of(const std::optional<NetworkRules>& rules) {
  return rules ? install_rules(*rules) : Status{};
}

// Seconds since this process began (exec, the dynamic loader, the libraries' constructors): the
// kernel's start time of it against CLOCK_BOOTTIME, both since boot.
std::optional<double> process_age() {
  auto stat = read_file("/proc/self/stat", 4096);
  if (!stat) return std::nullopt;
  // Field 22 (starttime, clock ticks) counts from the last ')' (the command may hold spaces).
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
  }
  timespec now{};
  long ticks = ::sysconf(_SC_CLK_TCK);
  if (field.empty() || ticks <= 0 || ::clock_gettime(CLOCK_BOOTTIME, &now) != 0)
    return std::nullopt;
  try {
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9 -
           static_cast<double>(std::stoull(field)) / static_cast<double>(ticks);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

class ServiceManager {
 public:
  explicit ServiceManager(const BootOptions& options)
      : options_(options),
        root_paths_(options.root.root),
        context_{BootPaths(root_paths_, options.run_base),
                 root_paths_.store,
                 options.subnet,
                 options.subnet6,
                 options.bridge,
                 {},
                 options.force_shifted_copy,
                 find_companion_program(kContainerMonitorProgram),
                 find_companion_program(kContainerReaperProgram),
                 {}} {}

  ~ServiceManager() { shut_down(); }

  Status bring_up(SignalChannel& signals) {
    signals_ = &signals;
    if (context_.reaper.empty())
      spdlog::warn(
          "{} was not found (beside this program, in ../libexec/mos or in $PATH): each service "
          "keeps liblxc's monitor, 3.5 MiB, to its end",
          kContainerReaperProgram);
    const auto& paths = context_.paths;
    // An unprivileged container's root must be able to walk down to its rootfs and volumes:
    // search (x) without read on every directory above them.
    for (const auto& dir : {paths.run.parent_path().parent_path(), paths.run.parent_path(),
                            paths.run, paths.rootfs, paths.volume_mounts, paths.lxc}) {
      MOS_TRY(make_dirs(dir, 0711));
      if (::chmod(dir.c_str(), 0711) != 0)
        return fail("making {} searchable: {}", dir.string(), errno_message(errno));
    }
    MOS_TRY_ASSIGN(control_, listen_for_control(paths.control));
    unmount_leftovers(paths.run);
    MOS_TRY(write_file_atomic(paths.pid_file, fmt::format("{}\n", ::getpid()), 0644));
    // Where a boot's time goes, said with its "up" line: on a machine it is the part of the boot
    // after the hostfs, and the only way to see it there.
    auto lap = [last = began_](std::string_view what) mutable {
      auto now = Clock::now();
      auto line =
          fmt::format("{} {:.2f} s", what, std::chrono::duration<double>(now - last).count());
      last = now;
      return line;
    };
    if (auto age = process_age()) laps_.push_back(fmt::format("program start {:.2f} s", *age));
    MOS_TRY_ASSIGN(auto installed, first_plan(paths));
    commit_ = installed.commit;
    laps_.push_back(lap(installed.handed_over ? "system handed over" : "system verified"));
    std::vector<fs::path> copies;
    for (const auto& spec : installed.plan.services)
      copies.push_back(paths.shifted / spec.name / "tree");
    read_ahead_ = TreeReadAhead::start(std::move(copies), kReadAheadBudget);
    MOS_TRY(apply_volumes(installed.plan));
    laps_.push_back(lap("volumes"));
    // On a machine its init loads what the services need (their networks' modules, LXC's
    // AppArmor profiles) beside this program's start: the profile is chosen once they are there.
    if (!options_.setup_after.empty()) {
      // Past the timeout it goes on: a module the kernel can still load on demand is no reason
      // to leave the services down.
      if (!wait_for_file(options_.setup_after, std::chrono::seconds(60)))
        spdlog::warn("{} did not appear within 60 s: setting the services up anyway",
                     options_.setup_after.string());
      laps_.push_back(lap("services' setup"));
    }
    MOS_TRY_ASSIGN(context_.apparmor_profile, resolve_apparmor_profile(options_.apparmor));
    for (auto& spec : installed.plan.services)
      runners_.push_back(std::make_unique<ServiceRunner>(spec, context_));
    MOS_TRY_ASSIGN(auto rules, bring_up_network());
    laps_.push_back(lap("network"));
    // A service needs its bridge to start, not the forwards that reach it: their rules (nftables,
    // a few tenths of a second under emulation) go in beside the services' start, and are in
    // before the boot says it is up.
    auto rules_in = std::async(std::launch::async, [&rules] { return install_rules_of(rules); });
    for (auto& runner : runners_) {
      runner->start();
      laps_.push_back(lap(runner->spec().name));
    }
    MOS_TRY(rules_in.get());
    rules_installed_ |= rules.has_value();
    laps_.push_back(lap("forwards"));
    return {};
  }

  void run() {
    spdlog::info("mosctl boot: {} services up for {} in {:.2f} s ({}); control at {}",
                 runners_.size(), root_paths_.root.string(),
                 std::chrono::duration<double>(Clock::now() - began_).count(),
                 fmt::join(laps_, ", "), context_.paths.control.string());
    // The system came up: a boot trial (sysroot/boot_trial.hpp) of it ends here.
    if (auto confirmed = sysroot::confirm_boot(options_.root); !confirmed)
      spdlog::warn("boot trial: {}", confirmed.error().message);
    else if (*confirmed)
      spdlog::info("boot trial: the system {} came up; it stays", commit_.substr(0, 12));
    if (options_.on_ready) options_.on_ready();
    while (!terminate_) {
      std::vector<pollfd> fds{{signals_->fd(), POLLIN, 0}, {control_.get(), POLLIN, 0}};
      std::vector<ServiceRunner*> readers;
      for (auto& r : runners_)
        if (r->output_fd() >= 0) {
          fds.push_back({r->output_fd(), POLLIN, 0});
          readers.push_back(r.get());
        }
      int timeout = -1;
      auto now = Clock::now();
      for (auto& r : runners_)
        if (auto at = r->next_start()) {
          auto ms = std::max<long>(
              0, std::chrono::duration_cast<std::chrono::milliseconds>(*at - now).count() + 1);
          timeout = timeout < 0 ? static_cast<int>(ms) : std::min(timeout, static_cast<int>(ms));
        }
      int ready = ::poll(fds.data(), fds.size(), timeout);
      if (ready < 0 && errno != EINTR) {
        spdlog::error("poll: {}", errno_message(errno));
        break;
      }
      for (std::size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents) readers[i - 2]->drain_output();
      if (fds[0].revents) handle_signals();
      if (fds[1].revents) handle_control();
      now = Clock::now();
      for (auto& r : runners_)
        if (r->wants_start(now)) r->start();
    }
  }

  void shut_down() {
    if (down_) return;
    down_ = true;
    for (auto& r : runners_) r->request_stop();
    for (auto& r : runners_) r->finish_stop(options_.stop_timeout);
    runners_.clear();
    if (rules_installed_)
      if (auto s = remove_rules(); !s) spdlog::error("{}", s.error().message);
    if (bridge_up_)
      if (auto s = tear_down_bridge(bridge_, bridge_state_); !s)
        spdlog::error("{}", s.error().message);
    for (const auto& [label, path] : context_.volumes)
      if (auto s = unmount_volume(label, volume_dirs()); !s) spdlog::error("{}", s.error().message);
    context_.volumes.clear();
    control_.reset();
    std::error_code ec;
    fs::remove(context_.paths.control, ec);
    fs::remove(context_.paths.pid_file, ec);
    for (const auto& dir : {context_.paths.rootfs, context_.paths.volume_mounts})
      fs::remove(dir, ec);
  }

 private:
  VolumeDirs volume_dirs() const { return runtime::volume_dirs(context_.paths); }

  Status apply_volumes(const BootPlan& plan) {
    for (const auto& volume : plan.volumes) {
      if (context_.volumes.contains(volume.item.label)) continue;
      MOS_TRY_ASSIGN(auto mounted, mount_volume(volume, volume_dirs()));
      context_.volumes[volume.item.label] = mounted;
    }
    return {};
  }

  // The bridge when a service uses the simple network; returns the rules of every forward that
  // then go in (none without a bridge).
  Result<std::optional<NetworkRules>> bring_up_network() {
    std::vector<PortForward> forwards;
    bool simple = false, ipv6 = false;
    for (const auto& r : runners_) {
      simple |= r->spec().network == manifest::NetworkType::simple;
      ipv6 |= r->spec().address6.has_value();
      forwards.insert(forwards.end(), r->spec().forwards.begin(), r->spec().forwards.end());
    }
    if (!simple) return std::optional<NetworkRules>();
    if (!bridge_up_) {
      bridge_ = BridgeSpec{options_.bridge, options_.subnet, context_.paths.run / "ip_forward",
                           context_.paths.run / "ipv6_forwarding"};
      MOS_TRY_ASSIGN(bridge_state_, bring_up_bridge(bridge_));
      bridge_up_ = true;
    }
    // IPv6 from the first service that has an address (an update may bring the first one).
    if (ipv6 && bridge_state_.ipv6_forwarding_before.empty())
      MOS_TRY(enable_bridge_ipv6(bridge_, options_.subnet6, bridge_state_));
    std::optional<Ipv6Subnet> subnet6;
    if (!bridge_state_.ipv6_forwarding_before.empty()) subnet6 = options_.subnet6;
    return std::optional<NetworkRules>(NetworkRules{options_.subnet, forwards, subnet6});
  }

  Status apply_network() {
    MOS_TRY_ASSIGN(auto rules, bring_up_network());
    MOS_TRY(install_rules_of(rules));
    rules_installed_ |= rules.has_value();
    return {};
  }

  void handle_signals() {
    for (int signal : signals_->take()) {
      if (signal == SIGTERM || signal == SIGINT) {
        spdlog::info("mosctl boot: stopping (signal {})", signal);
        terminate_ = true;
      }
    }
    // SIGCHLD may merge several exits: look at every monitor.
    for (auto& r : runners_) {
      if (r->monitor() <= 0) continue;
      int status = 0;
      if (::waitpid(r->monitor(), &status, WNOHANG) == r->monitor()) r->exited(status);
    }
  }

  ServiceRunner* find(const std::string& name) {
    for (auto& r : runners_)
      if (r->spec().name == name) return r.get();
    return nullptr;
  }

  Json status() {
    Json out{{"ok", true},
             {"root", root_paths_.root.string()},
             {"commit", commit_},
             {"pid", ::getpid()},
             {"control", context_.paths.control.string()}};
    out["services"] = Json::array();
    for (auto& r : runners_) out["services"].push_back(r->status());
    return out;
  }

  struct FirstPlan : InstalledPlan {
    bool handed_over = false;
  };
  // The system the initramfs verified in this boot when it handed it over (--booted-system),
  // else the history's head. A record that does not make a plan is said, and the history read.
  Result<FirstPlan> first_plan(const BootPaths& paths) {
    if (!options_.booted_system.empty()) {
      auto taken = sysroot::take_booted_system(options_.booted_system);
      if (!taken) {
        spdlog::warn("{}; reading the history instead", taken.error().message);
      } else if (*taken) {
        auto planned =
            load_installed_plan(options_.root, paths, options_.subnet, options_.subnet6, &**taken);
        if (planned) return FirstPlan{std::move(*planned), true};
        spdlog::warn("the system handed over in {}: {}; reading the history instead",
                     options_.booted_system.string(), planned.error().message);
      }
    }
    MOS_TRY_ASSIGN(auto installed,
                   load_installed_plan(options_.root, paths, options_.subnet, options_.subnet6));
    return FirstPlan{std::move(installed), false};
  }

  // Brings the running services to the installed system's head: those whose spec changed are
  // stopped and started again with the new one, gone ones stopped, new ones started. With a
  // target, only that one (and `force` restarts it even when nothing changed).
  Result<Json> reload(const std::optional<std::string>& target, bool force) {
    MOS_TRY_ASSIGN(auto installed, load_installed_plan(options_.root, context_.paths,
                                                       options_.subnet, options_.subnet6));
    BootPlan current;
    current.subnet = options_.subnet;
    for (auto& r : runners_) current.services.push_back(r->spec());
    auto change = compare_plans(current, installed.plan);
    auto concerned = [&](const std::string& name) { return !target || *target == name; };
    if (target && !find(*target) &&
        std::ranges::none_of(installed.plan.services,
                             [&](const ServiceSpec& s) { return s.name == *target; }))
      return fail("the installed system has no target \"{}\"", *target);
    if (target && force && std::ranges::find(change.stop, *target) == change.stop.end() &&
        find(*target)) {
      change.stop.push_back(*target);
      change.start.push_back(*target);
    }
    MOS_TRY(apply_volumes(installed.plan));
    Json stopped = Json::array(), started = Json::array();
    for (const auto& name : change.stop) {
      if (!concerned(name)) continue;
      if (auto* r = find(name)) {
        r->request_stop();
        r->finish_stop(options_.stop_timeout);
        std::erase_if(runners_, [&](const auto& p) { return p.get() == r; });
        stopped.push_back(name);
      }
    }
    for (const auto& spec : installed.plan.services) {
      if (!concerned(spec.name)) continue;
      if (std::ranges::find(change.start, spec.name) == change.start.end()) {
        if (auto* r = find(spec.name); r && r->state() == ServiceState::stopped && target) {
          r->start();  // activate of a stopped, unchanged service
          started.push_back(spec.name);
        }
        continue;
      }
      runners_.push_back(std::make_unique<ServiceRunner>(spec, context_));
      started.push_back(spec.name);
    }
    // Keep the manifest's order for status.
    std::vector<std::unique_ptr<ServiceRunner>> ordered;
    for (const auto& spec : installed.plan.services)
      for (auto& r : runners_)
        if (r && r->spec().name == spec.name) ordered.push_back(std::move(r));
    for (auto& r : runners_)
      if (r) ordered.push_back(std::move(r));  // kept by an activate of one target
    runners_ = std::move(ordered);
    MOS_TRY(apply_network());
    for (auto& r : runners_)
      for (const auto& name : started)
        if (r->spec().name == name.get<std::string>() && r->state() != ServiceState::running)
          r->start();
    commit_ = installed.commit;
    return Json{{"ok", true}, {"stopped", stopped}, {"started", started}, {"commit", commit_}};
  }

  Result<Json> answer(const Json& request) {
    auto command = request["command"].get<std::string>();
    auto target = [&]() -> Result<std::string> {
      if (!request.contains("target") || !request["target"].is_string())
        return fail("\"{}\" needs a target", command);
      return request["target"].get<std::string>();
    };
    if (command == "status") return status();
    if (command == "reload") return reload(std::nullopt, false);
    if (command == "activate") {
      MOS_TRY_ASSIGN(auto name, target());
      return reload(name, request.value("force", false));
    }
    if (command == "stop") {
      MOS_TRY_ASSIGN(auto name, target());
      auto* r = find(name);
      if (!r) return fail("no service \"{}\" runs", name);
      r->request_stop();
      r->finish_stop(options_.stop_timeout);
      return Json{{"ok", true}, {"stopped", name}};
    }
    if (command == "logs") {
      MOS_TRY_ASSIGN(auto name, target());
      if (!find(name)) return fail("no service \"{}\" in the running system", name);
      return Json{{"ok", true}, {"path", (context_.paths.logs / (name + ".log")).string()}};
    }
    return fail("unknown command \"{}\"", command);
  }

  void handle_control() {
    for (;;) {
      UniqueFd connection(::accept4(control_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) return;
      auto request = read_request(connection.get());
      Result<Json> result = request ? answer(*request) : std::unexpected(request.error());
      send_answer(connection.get(),
                  result ? *result : Json{{"ok", false}, {"error", result.error().message}});
    }
  }

  BootOptions options_;
  sysroot::SysrootPaths root_paths_;
  RunnerContext context_;
  SignalChannel* signals_ = nullptr;
  UniqueFd control_;
  std::vector<std::unique_ptr<ServiceRunner>> runners_;
  std::string commit_;
  Clock::time_point began_ = Clock::now();
  std::vector<std::string> laps_;  // where bring_up's time went
  BridgeSpec bridge_;
  BridgeUp bridge_state_;
  bool bridge_up_ = false;
  bool rules_installed_ = false;
  bool terminate_ = false;
  TreeReadAhead read_ahead_;
  bool down_ = false;
};

}  // namespace

Status run_boot(const BootOptions& options) {
  MOS_TRY_ASSIGN(auto signals, SignalChannel::open());
  ServiceManager manager(options);
  if (auto s = manager.bring_up(signals); !s) {
    manager.shut_down();
    return s;
  }
  manager.run();
  manager.shut_down();
  return {};
}

}  // namespace mos::runtime
