#include "runtime/service_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <spdlog/spdlog.h>

#include "atomfs/mount_image.hpp"
#include "core/file.hpp"
#include "oci/layout_store.hpp"
#include "runtime/apparmor_policy.hpp"
#include "runtime/container_config.hpp"
#include "runtime/container_monitor.hpp"
#include "runtime/container_reaper.hpp"
#include "runtime/container_teardown.hpp"
#include "runtime/lxc_container.hpp"
#include "runtime/service_bridge.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kMaxBackoff{30};
constexpr std::chrono::seconds kStableRun{30};  // a run this long resets the backoff

bool is_container(const ServiceSpec& spec) {
  return spec.type == manifest::ServiceType::container;
}

// liblxc's own log for one container (warnings and errors).
fs::path lxc_log_of(const RunnerContext& context, const std::string& name) {
  return context.paths.lxc / (name + ".lxc.log");
}

// The writable layer belongs to one image and one uid range: a new version or nsgroup starts
// from a clean upper (data that must survive updates lives in storage volumes).
Status prepare_upper(const fs::path& dir, const ServiceSpec& spec) {
  auto marker = dir / "image";
  auto want = fmt::format("{} {}\n", spec.digest.str(), spec.ids ? spec.ids->hostid : 0);
  auto have = read_file(marker, 4096);
  if (have && *have == want) return {};
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return fail("clearing {}: {}", dir.string(), ec.message());
  MOS_TRY(make_dirs(dir, 0700));
  return write_file_atomic(marker, want, 0600);
}

}  // namespace

std::string_view to_string(ServiceState state) {
  switch (state) {
    case ServiceState::starting:
      return "starting";
    case ServiceState::running:
      return "running";
    case ServiceState::restarting:
      return "restarting";
    case ServiceState::failed:
      return "failed";
    case ServiceState::stopped:
      return "stopped";
  }
  return "unknown";
}

ServiceRunner::ServiceRunner(ServiceSpec spec, const RunnerContext& context)
    : spec_(std::move(spec)), context_(context) {}

ServiceRunner::~ServiceRunner() {
  if (monitor_ > 0 || rootfs_mounted_) {
    request_stop();
    finish_stop(std::chrono::seconds(5));
  }
}

bool ServiceRunner::wants_start(Clock::time_point now) const {
  return (state_ == ServiceState::restarting || state_ == ServiceState::failed) &&
         !stop_requested_ && now >= restart_at_;
}

std::optional<ServiceRunner::Clock::time_point> ServiceRunner::next_start() const {
  if ((state_ == ServiceState::restarting || state_ == ServiceState::failed) && !stop_requested_)
    return restart_at_;
  return std::nullopt;
}

Status ServiceRunner::mount_rootfs() {
  if (rootfs_mounted_) return {};
  MOS_TRY_ASSIGN(auto store, oci::LayoutStore::open(context_.store, false));
  atomfs::MountOptions options;
  options.run_dir = context_.paths.atomfs;
  fs::path dest;
  if (is_container(spec_)) {
    dest = context_.paths.rootfs / spec_.name;
    auto upper = context_.paths.uppers / spec_.name;
    MOS_TRY(prepare_upper(upper, spec_));
    options.scratch = upper;
    if (spec_.ids) {
      options.id_shift = atomfs::IdShift{spec_.ids->hostid, spec_.ids->size};
      options.shifted_copy_dir = context_.paths.shifted / spec_.name;
      options.force_shifted_copy = context_.force_shifted_copy;
    }
  } else {
    dest = context_.paths.atoms / spec_.name;
    options.read_only = true;
  }
  MOS_TRY(make_dirs(dest, 0755));
  MOS_TRY(with_context(atomfs::mount_image(*store, spec_.digest.str(), dest, options),
                       fmt::format("service {}: mounting its image", spec_.name)));
  rootfs_mounted_ = true;
  return {};
}

Status ServiceRunner::launch() {
  auto rootfs = context_.paths.rootfs / spec_.name;
  MOS_TRY_ASSIGN(auto user, resolve_user(spec_.config.user.value_or(""), rootfs));
  ContainerPlace place;
  place.rootfs = rootfs;
  place.lxc_log = lxc_log_of(context_, spec_.name);
  place.seccomp = context_.paths.lxc / "seccomp.policy";
  place.bridge = context_.bridge;
  place.subnet = context_.subnet;
  place.subnet6 = context_.subnet6;
  place.volumes = context_.volumes;
  place.apparmor_profile = context_.apparmor_profile;
  place.run_id = context_.paths.run.filename().string();
  MOS_TRY_ASSIGN(auto launch, container_launch(spec_, place, user));
  MOS_TRY(write_file_atomic(place.seccomp, std::string(default_seccomp_policy()), 0600));
  auto config = context_.paths.lxc / (spec_.name + ".conf");
  MOS_TRY(write_file_atomic(config, launch.config, 0600));
  // liblxc appends to its log: emptied, it holds this start's complaints only (first_lxc_error).
  if (::truncate(place.lxc_log.c_str(), 0) != 0 && errno != ENOENT)
    return fail("emptying {}: {}", place.lxc_log.string(), errno_message(errno));
  if (!log_) {
    MOS_TRY(make_dirs(context_.paths.logs, 0750));
    MOS_TRY_ASSIGN(auto log, ServiceLog::open(context_.paths.logs / (spec_.name + ".log")));
    log_ = std::make_unique<ServiceLog>(std::move(log));
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail("pipe: {}", errno_message(errno));
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  if (leftovers_) remove_leftovers();
  // A profile that liblxc generated is unloaded by liblxc's monitor at the container's end: that
  // monitor stays.
  ContainerStart start{
      spec_.name,
      context_.paths.lxc,
      config,
      launch.argv,
      write_end.get(),
      context_.monitor,
      context_.apparmor_profile == kApparmorGenerated ? fs::path() : context_.reaper};
  MOS_TRY_ASSIGN(monitor_, start_container(start));
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  output_ = std::move(read_end);
  return {};
}

void ServiceRunner::fail_now(std::string message) {
  spdlog::error("{}", message);
  last_error_ = std::move(message);
  state_ = ServiceState::failed;
  restart_at_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

void ServiceRunner::remove_leftovers() {
  leftovers_ = false;
  if (auto s = remove_container_cgroups(
          container_cgroup_names(context_.paths.run.filename().string(), spec_.name));
      !s) {
    spdlog::warn("service {}: {}", spec_.name, s.error().message);
    leftovers_ = true;
  }
  if (spec_.network == manifest::NetworkType::simple && spec_.address)
    if (auto s = delete_interface(host_veth_name(*spec_.address)); !s) {
      spdlog::warn("service {}: {}", spec_.name, s.error().message);
      leftovers_ = true;
    }
}

void ServiceRunner::start() {
  stop_requested_ = false;
  if (monitor_ > 0) return;
  state_ = ServiceState::starting;
  if (auto s = mount_rootfs(); !s) return fail_now(s.error().message);
  if (!is_container(spec_)) {
    state_ = ServiceState::running;
    started_ = Clock::now();
    started_wall_ = std::chrono::system_clock::now();
    return;
  }
  if (auto s = launch(); !s)
    return fail_now(fmt::format("service {}: {}", spec_.name, s.error().message));
  state_ = ServiceState::running;
  started_ = Clock::now();
  started_wall_ = std::chrono::system_clock::now();
  last_error_.clear();
  spdlog::info("service {} started (version {})", spec_.name, spec_.version);
}

void ServiceRunner::drain_output() {
  if (!output_) return;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::read(output_.get(), buffer, sizeof buffer);
    if (n > 0) {
      if (log_) {
        if (auto s = log_->append(std::string_view(buffer, static_cast<std::size_t>(n))); !s)
          spdlog::warn("service {}: {}", spec_.name, s.error().message);
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) output_.reset();  // every writer is gone
    return;
  }
}

void ServiceRunner::exited(int wait_status) {
  drain_output();
  output_.reset();
  monitor_ = 0;
  remove_leftovers();
  last_exit_ = container_status_code(wait_status);
  if (stop_requested_) {
    state_ = ServiceState::stopped;
    return;
  }
  if (Clock::now() - started_ >= kStableRun) backoff_ = std::chrono::seconds(1);
  ++restarts_;
  state_ = ServiceState::restarting;
  restart_at_ = Clock::now() + backoff_;
  std::string why;
  if (*last_exit_ == kContainerNotStarted) {
    if (auto error = first_lxc_error(lxc_log_of(context_, spec_.name)); !error.empty()) {
      why = fmt::format(" (liblxc: {})", error);
      last_error_ = fmt::format("service {}: liblxc could not start it: {}", spec_.name, error);
    }
  }
  spdlog::warn("service {} exited with {}{}; restarting in {} s", spec_.name, *last_exit_, why,
               backoff_.count());
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

void ServiceRunner::request_stop() {
  stop_requested_ = true;
  if (monitor_ > 0) ::kill(monitor_, SIGTERM);
}

void ServiceRunner::finish_stop(std::chrono::milliseconds timeout) {
  stop_requested_ = true;
  auto deadline = Clock::now() + timeout;
  while (monitor_ > 0) {
    int status = 0;
    pid_t done = ::waitpid(monitor_, &status, WNOHANG);
    if (done == monitor_) {
      exited(status);
      break;
    }
    if (done < 0 && errno != EINTR) {
      monitor_ = 0;
      break;
    }
    drain_output();
    if (Clock::now() >= deadline) {
      spdlog::warn("service {} did not stop within {} ms: killing it", spec_.name, timeout.count());
      ::kill(monitor_, SIGKILL);  // the container's init dies with it
      deadline = Clock::now() + std::chrono::seconds(30);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  release_rootfs();
  state_ = ServiceState::stopped;
}

void ServiceRunner::release_rootfs() {
  if (!rootfs_mounted_) return;
  auto dest =
      is_container(spec_) ? context_.paths.rootfs / spec_.name : context_.paths.atoms / spec_.name;
  if (auto s = atomfs::unmount_image(dest, context_.paths.atomfs); !s)
    spdlog::error("service {}: {}", spec_.name, s.error().message);
  else
    rootfs_mounted_ = false;
  std::error_code ec;
  fs::remove(dest, ec);
}

Json ServiceRunner::status() const {
  Json out = Json::object();
  out["name"] = spec_.name;
  out["type"] = std::string(manifest::to_string(spec_.type));
  out["version"] = spec_.version;
  out["digest"] = spec_.digest.str();
  out["state"] = std::string(to_string(state_));
  out["restarts"] = restarts_;
  if (state_ == ServiceState::running) {
    out["uptime_seconds"] =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count();
    out["started"] =
        std::chrono::duration_cast<std::chrono::seconds>(started_wall_.time_since_epoch()).count();
  }
  if (monitor_ > 0) {
    out["monitor_pid"] = monitor_;
    if (auto pid = container_init_pid(monitor_, spec_.name, context_.paths.lxc)) out["pid"] = pid;
  }
  out["network"] = std::string(manifest::to_string(spec_.network));
  if (spec_.address) out["address"] = format_ipv4(*spec_.address);
  if (spec_.address6) out["address6"] = format_ipv6(*spec_.address6);
  out["ports"] = Json::array();
  for (const auto& f : spec_.forwards)
    out["ports"].push_back({{"host", f.host_port}, {"container", f.container_port}});
  if (spec_.ids)
    out["uid_range"] = {
        {"nsgroup", spec_.ids->nsgroup}, {"hostid", spec_.ids->hostid}, {"size", spec_.ids->size}};
  if (last_exit_) out["last_exit"] = *last_exit_;
  if (!last_error_.empty()) out["error"] = last_error_;
  if (state_ == ServiceState::restarting || state_ == ServiceState::failed)
    out["next_start_in_seconds"] = std::max<long>(
        0, std::chrono::duration_cast<std::chrono::seconds>(restart_at_ - Clock::now()).count());
  return out;
}

}  // namespace mos::runtime
