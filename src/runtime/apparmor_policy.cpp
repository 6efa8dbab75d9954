#include "runtime/apparmor_policy.hpp"

#include <unistd.h>

#include "core/file.hpp"
#include "core/text.hpp"

namespace mos::runtime {

namespace fs = std::filesystem;

namespace {

bool apparmor_enabled(const fs::path& sys) {
  // sysfs says 4096 bytes for every file, whatever it holds.
  auto enabled = read_file(sys / "module/apparmor/parameters/enabled", 64 * 1024);
  return enabled && enabled->starts_with("Y");
}

// Whether `name` is among the loaded profiles ("NAME (enforce)" lines).
bool profile_loaded(const fs::path& sys, std::string_view name) {
  auto profiles = read_file(sys / "kernel/security/apparmor/profiles", 16 * 1024 * 1024);
  if (!profiles) return false;
  bool loaded = false;
  for_each_line(*profiles, [&](std::string_view line) {
    loaded = loaded || (line.starts_with(name) && line.substr(name.size()).starts_with(" ("));
  });
  return loaded;
}

}  // namespace

Result<std::string> resolve_apparmor_profile(std::string_view requested, const ApparmorHost& host) {
  if (requested.empty() || requested.find_first_of(" \t\n") != std::string_view::npos)
    return fail("--apparmor \"{}\": give auto, generated, unchanged, unconfined or a profile name",
                requested);
  if (requested != kApparmorAuto) return std::string(requested);
  if (!apparmor_enabled(host.sys)) return std::string();
  if (profile_loaded(host.sys, kLxcContainerProfile)) return std::string(kLxcContainerProfile);
  bool parser = false;
  for (const auto& dir : host.parser_dirs)
    parser = parser || ::access((dir / "apparmor_parser").c_str(), X_OK) == 0;
  if (!parser)
    return fail(
        "AppArmor is enabled on this machine, and services are confined by the profiles liblxc "
        "generates, which apparmor_parser loads: it is not installed (package apparmor). Install "
        "it, or choose with --apparmor (unchanged, unconfined or a loaded profile)");
  std::error_code ec;
  if (!fs::exists(host.sys / "kernel/security/apparmor", ec))
    return fail(
        "AppArmor is enabled on this machine, but securityfs is not mounted on {} (mount -t "
        "securityfs securityfs {}): liblxc cannot load the services' profiles",
        (host.sys / "kernel/security").string(), (host.sys / "kernel/security").string());
  return std::string(kApparmorGenerated);
}

}  // namespace mos::runtime
