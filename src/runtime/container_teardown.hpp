#pragma once
// What liblxc's monitor undoes at a container's end, for containers whose monitor handed over to
// the container reaper (container_reaper.hpp) and so is no longer there to do it: boot does it
// once the reaper has ended, however it ended (killed with the container included).
//
// - The container's cgroups (container_cgroup_names): liblxc makes them in every cgroup hierarchy,
//   under the cgroup of pid 1 when run as root (it escapes to it unless lxc.cgroup.relative), else
//   of the process that started it. Left behind, the service's next start would fail.
// - The host's end of its veth, which the kernel deletes too, but only once it has released the
//   container's network namespace (asynchronously): deleted here at once, so that the service's
//   next start can take the same name (container_launch names it after the address).
#include <filesystem>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "runtime/container_config.hpp"

namespace mos::runtime {

// A cgroup hierarchy: where it is mounted, and a process's cgroup in it.
struct CgroupPlace {
  std::filesystem::path mount;
  std::filesystem::path own;  // relative to `mount`'s root, as /proc/self/cgroup says
};

// The hierarchies of a /proc/PID/cgroup that /proc/self/mountinfo shows mounted (v1 controllers
// matched by the mount's options, v2 by type), pure: the two files' text.
std::vector<CgroupPlace> cgroup_places(std::string_view proc_cgroup, std::string_view mountinfo);

// The directories liblxc made for a container, two per hierarchy in `places`.
std::vector<std::filesystem::path> container_cgroup_dirs(const std::vector<CgroupPlace>& places,
                                                         const ContainerCgroupNames& names);

// Removes those that exist, deepest first (a cgroup is removed with rmdir, and only once empty: a
// container's last processes may take a moment to leave it after its init was reaped).
Status remove_container_cgroups(const ContainerCgroupNames& names);

}  // namespace mos::runtime
