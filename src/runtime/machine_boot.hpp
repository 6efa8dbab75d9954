#pragma once
// `mosctl boot`: the machine's service manager. It brings the installed system up — storage
// volumes, the simple network's bridge and port forwards, fs-only targets read-only at
// mnt/atom/NAME, every container started — then supervises in the foreground: a service that
// exits is restarted with backoff (1 s doubling to 30 s), requests on the control channel
// (status, stop, activate, reload, logs) are answered, and SIGTERM or SIGINT stops every service
// and undoes every mount, interface and rule it made. No systemd is assumed: this is what the
// machine's init runs.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "core/result.hpp"
#include "runtime/address_plan.hpp"
#include "runtime/apparmor_policy.hpp"
#include "sysroot/sysroot.hpp"

namespace mos::runtime {

// The program that runs boot (mosctl's service commands alone, src/cli/mosctl_boot): installed
// beside mosctl or in ../libexec/mos, and in a machine's hostfs, whose init runs it.
inline constexpr const char* kBootProgram = "mosctl-boot";

struct BootOptions {
  sysroot::SysrootOptions root;
  Ipv4Subnet subnet;
  Ipv6Subnet subnet6;  // for services whose manifest names an IPv6 address
  std::string bridge = "mosbr0";
  std::filesystem::path run_base = "/run/mos/boot";
  bool force_shifted_copy = false;      // --id-shift copy: see atomfs/shifted_copy.hpp
  std::string apparmor{kApparmorAuto};  // --apparmor: see apparmor_policy.hpp
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(10)};
  // --setup-after: a file whose existence says what the services need from the host is loaded
  // (a machine's init loads their networks' kernel modules and LXC's AppArmor profiles beside
  // boot's start); waited for, up to 60 s, before the services' profile is chosen and their
  // network brought up. Empty: no wait (the kernel loads modules on demand).
  std::filesystem::path setup_after;
  // --booted-system: the system the initramfs verified and booted (sysroot/booted_system.hpp),
  // taken for the first plan instead of the history. Empty, missing or unreadable: the history.
  std::filesystem::path booted_system;
  // Called once everything is up (the first start of every service attempted).
  std::function<void()> on_ready;
};

// Runs until SIGTERM or SIGINT. Fails only when the system cannot be brought up at all (no
// installed system, a plan that cannot run, a second boot on the same root); a service that
// fails is reported and retried, never fatal.
Status run_boot(const BootOptions& options);

}  // namespace mos::runtime
