#pragma once
// The boot plan of the system installed under a root: the head of its history, verified again
// (signatures, store content) under the shared lock, or the system a machine's initramfs verified
// in this boot and handed over (sysroot/booted_system.hpp); each container's image config read
// from the store and checked against its digest, addresses kept from the previous boot.
#include <string>

#include "core/result.hpp"
#include "runtime/boot_paths.hpp"
#include "runtime/service_plan.hpp"
#include "sysroot/booted_system.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::runtime {

struct InstalledPlan {
  std::string commit;  // of the history
  BootPlan plan;
};

// Also remembers the plan's addresses in paths.addresses (atomically) when they changed. With
// `booted`, the plan of that system (verified by the initramfs in this boot) instead of the
// history's head.
Result<InstalledPlan> load_installed_plan(const sysroot::SysrootOptions& options,
                                          const BootPaths& paths, const Ipv4Subnet& subnet,
                                          const Ipv6Subnet& subnet6,
                                          const sysroot::BootedSystem* booted = nullptr);

}  // namespace mos::runtime
