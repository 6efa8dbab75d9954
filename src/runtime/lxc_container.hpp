#pragma once
// Containers through liblxc (Debian's liblxc 5, the original's runtime). A service's container
// runs in the foreground of a process that boot starts for it, its "monitor" (the program
// mos-lxc-monitor, container_monitor.hpp): liblxc makes that process the container's parent, so
// the container's end is the monitor's exit, which boot sees as SIGCHLD without polling. Once the
// container runs, the monitor becomes the container reaper (container_reaper.hpp) in the same
// process, and boot undoes at its end what liblxc would have (container_teardown.hpp). The
// monitor's stdout and stderr (the service's output, with lxc.console.path = none) are a pipe that
// boot writes to the service's log.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace mos::runtime {

struct ContainerStart {
  std::string name;
  std::filesystem::path lxc_dir;  // liblxc's "lxcpath": NAME/config and its runtime files
  std::filesystem::path config;   // the file with container_launch's config
  std::vector<std::string> argv;
  int output_fd = -1;             // becomes the service's stdout and stderr
  std::filesystem::path monitor;  // the mos-lxc-monitor program
  std::filesystem::path reaper;   // what it becomes once the container runs; empty: stays
};

// Starts the monitor; returns its pid. The monitor dies with its parent (PDEATHSIG), and the
// container with the monitor (liblxc's own PDEATHSIG on the container's init), so a crash of
// boot leaves no service running unsupervised.
Result<pid_t> start_container(const ContainerStart& start);

// The message of the first ERROR line in liblxc's log for a container (the root of its reason for
// not starting one: the lines after it are its consequences), "" when there is none; the log's
// first 64 KiB are read. ServiceRunner empties the log before each start.
std::string first_lxc_error(const std::filesystem::path& lxc_log);

// The pid of the container's init: the reaper's argument once the monitor became it, else as
// liblxc's monitor reports it (0 when not running).
pid_t container_init_pid(pid_t monitor, const std::string& name,
                         const std::filesystem::path& lxc_dir);

// Signals to a monitor or reaper are passed on to the container's init (SIGTERM asks it to stop:
// lxc's init passes it to the service), but SIGKILL, which ends the container with it (liblxc's
// PDEATHSIG on the init): no request to liblxc is needed to stop a container.

}  // namespace mos::runtime
