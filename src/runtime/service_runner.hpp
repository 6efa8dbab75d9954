#pragma once
// One service as `mosctl boot` runs it: its root filesystem (a writable overlay over the image's
// verified layers, idmapped for its nsgroup; an fs-only target read-only at mnt/atom/NAME), its
// container's monitor process, its output going to its log, its state and restart backoff.
// ServiceManager drives many of these from its event loop; nothing here blocks for long but
// stop(), which waits for the container to end.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/unique_fd.hpp"
#include "runtime/boot_paths.hpp"
#include "runtime/service_log.hpp"
#include "runtime/service_plan.hpp"

namespace mos::runtime {

enum class ServiceState { starting, running, restarting, failed, stopped };
std::string_view to_string(ServiceState state);

struct RunnerContext {
  BootPaths paths;
  std::filesystem::path store;  // the root's atomfs store
  Ipv4Subnet subnet;
  Ipv6Subnet subnet6;
  std::string bridge;
  std::map<std::string, std::filesystem::path> volumes;  // label -> mount point
  bool force_shifted_copy = false;                       // see atomfs::MountOptions
  std::filesystem::path monitor;                         // the mos-lxc-monitor program
  std::filesystem::path reaper;  // what each monitor becomes once its container runs
  std::string apparmor_profile;  // each container's (resolve_apparmor_profile's answer)
};

class ServiceRunner {
 public:
  using Clock = std::chrono::steady_clock;
  ServiceRunner(ServiceSpec spec, const RunnerContext& context);
  ServiceRunner(const ServiceRunner&) = delete;
  ServiceRunner& operator=(const ServiceRunner&) = delete;
  ~ServiceRunner();

  const ServiceSpec& spec() const { return spec_; }
  ServiceState state() const { return state_; }
  pid_t monitor() const { return monitor_; }
  int output_fd() const { return output_.get(); }
  bool wants_start(Clock::time_point now) const;
  std::optional<Clock::time_point> next_start() const;

  // Mounts what it needs (once) and starts its container; an fs-only target is only mounted.
  // A failure leaves it `failed`, to be tried again after the backoff.
  void start();
  // Its monitor ended with this wait status: restart later unless it was stopped.
  void exited(int wait_status);
  // Copies what the service printed to its log.
  void drain_output();
  // Asks the container to end (SIGTERM); finish_stop() waits for it, up to the timeout, then
  // kills it, and unmounts its root filesystem. Stopped services stay stopped until start().
  void request_stop();
  void finish_stop(std::chrono::milliseconds timeout);

  Json status() const;

 private:
  Status mount_rootfs();
  Status launch();
  void fail_now(std::string message);
  // What liblxc's monitor would have removed at the container's end (container_teardown.hpp);
  // leftovers_ says whether something stayed.
  void remove_leftovers();
  void release_rootfs();

  ServiceSpec spec_;
  const RunnerContext& context_;
  ServiceState state_ = ServiceState::stopped;
  bool stop_requested_ = false;
  bool rootfs_mounted_ = false;
  // Whether the container's cgroups or veth may still be there: from a crashed earlier boot until
  // the first start has removed them, or after an end whose teardown left something.
  bool leftovers_ = true;
  pid_t monitor_ = 0;
  UniqueFd output_;
  std::unique_ptr<ServiceLog> log_;
  Clock::time_point started_{};
  Clock::time_point restart_at_{};
  std::chrono::system_clock::time_point started_wall_{};
  std::chrono::seconds backoff_{1};
  unsigned restarts_ = 0;
  std::optional<int> last_exit_;
  std::string last_error_;
};

}  // namespace mos::runtime
