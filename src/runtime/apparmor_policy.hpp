#pragma once
// How a machine's services are confined by AppArmor (lxc.apparmor.profile of each container).
// By default ("auto"), where the machine's kernel has AppArmor enabled (Debian's does), each
// container is confined by LXC's default container profile, lxc-container-default-cgns (Debian's
// liblxc-common), when it is loaded: the hostfs loads it at boot, compiled when the hostfs was
// built. Where it is not loaded, each container gets the profile liblxc generates for it
// ("generated": the same base rules, abstractions/lxc/container-base, which apparmor_parser
// compiles at every start of every service: seconds each under emulation). Where the kernel has
// no AppArmor, nothing is written, since there is nothing to apply. The original wrote "unchanged"
// everywhere (the service kept the label of the process that started it, normally unconfined);
// that, or "unconfined", or a profile already loaded, is used only when asked (mosctl boot
// --apparmor).
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::runtime {

inline constexpr std::string_view kApparmorAuto = "auto";
// liblxc's word for a profile it generates, loads and unloads itself.
inline constexpr std::string_view kApparmorGenerated = "generated";
// LXC's profile for containers with a cgroup namespace (liblxc 5 gives each one).
inline constexpr std::string_view kLxcContainerProfile = "lxc-container-default-cgns";

struct ApparmorHost {
  std::filesystem::path sys = "/sys";  // sysfs, with securityfs at kernel/security
  // Where liblxc's monitor finds apparmor_parser (it runs with PATH=/usr/sbin:/sbin).
  std::filesystem::path parser_dirs[2] = {"/usr/sbin", "/sbin"};
};

// The lxc.apparmor.profile value for `requested` on this machine ("" for none), or why it
// cannot be: AppArmor enabled but apparmor_parser missing or securityfs not mounted.
Result<std::string> resolve_apparmor_profile(std::string_view requested,
                                             const ApparmorHost& host = {});

}  // namespace mos::runtime
