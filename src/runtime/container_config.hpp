#pragma once
// The LXC configuration of one container service, as text for liblxc's load_config: a pure
// function of its ServiceSpec and where boot put things, so it can be tested and shown
// (`mosctl status --json` keeps it beside the service's state for inspection).
//
// What the original wrote, and what we do instead (spec: original-mos.md §7): no TRACE logging,
// no `apparmor.profile = unchanged` unless asked (apparmor_policy.hpp); LXC's own defaults for
// capabilities (mac_admin, mac_override, sys_time, sys_module, sys_rawio dropped) and its common
// seccomp deny list; the command is passed as an argv, never through a shell; lxc's init (useinit)
// is pid 1 so that the service gets signals and its zombies are reaped.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "runtime/address_plan.hpp"
#include "runtime/service_plan.hpp"

namespace mos::runtime {

struct ContainerPlace {
  std::filesystem::path rootfs;   // the mounted overlay
  std::filesystem::path lxc_log;  // liblxc's own messages (warnings and errors only)
  std::filesystem::path seccomp;  // where the deny list is written
  std::string bridge = "mosbr0";  // the simple network's
  Ipv4Subnet subnet;
  Ipv6Subnet subnet6;                                    // used for a service with an IPv6 address
  std::map<std::string, std::filesystem::path> volumes;  // label -> mount point on the host
  std::string apparmor_profile;  // lxc.apparmor.profile ("": none; see apparmor_policy.hpp)
  std::string run_id;            // the boot's (container_cgroup_names)
};

// The cgroups liblxc makes for a service's container (lxc.cgroup.dir.container, .monitor) in each
// hierarchy: named after the boot's run directory (BootPaths::run, one per root) as well as the
// service, so that boots of two roots on one host never share one, and a boot finds what a crashed
// boot of its root left (container_teardown.hpp).
struct ContainerCgroupNames {
  std::string payload;  // the container's
  std::string monitor;  // its monitor's, then its reaper's
};
ContainerCgroupNames container_cgroup_names(std::string_view run_id, std::string_view service);

// The host's end of the veth of a service at `address` on the simple network, named after it as
// its MAC is (container_teardown.hpp deletes it at the container's end).
std::string host_veth_name(std::uint32_t address);

struct UserIds {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  friend bool operator==(const UserIds&, const UserIds&) = default;
};

// The image config's User ("", "name", "uid", "name:group", "uid:gid") as the container sees
// it, names looked up in the rootfs's own /etc/passwd and /etc/group (never the host's).
Result<UserIds> resolve_user(std::string_view user, const std::filesystem::path& rootfs);
// The same from the texts of those two files (untrusted: the image's).
Result<UserIds> lookup_user(std::string_view user, std::string_view passwd, std::string_view group);

struct ContainerLaunch {
  std::string config;             // lxc.* lines
  std::vector<std::string> argv;  // Entrypoint + Cmd, exactly
};

// Refuses what LXC would take wrongly: config values with newlines, volume destinations that
// are not absolute or climb out with "..", a storage label boot did not mount.
Result<ContainerLaunch> container_launch(const ServiceSpec& service, const ContainerPlace& place,
                                         const UserIds& user);

// LXC's common seccomp policy (lxc's config/common.seccomp): a deny list of module loading,
// kexec and open_by_handle_at.
std::string_view default_seccomp_policy();

}  // namespace mos::runtime
