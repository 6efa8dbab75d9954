#include "atomfs/target_mount.hpp"

#include "core/file.hpp"
#include "sysroot/installed_system.hpp"
#include "sysroot/system_history.hpp"

namespace mos::atomfs {

std::filesystem::path default_target_dest(const sysroot::SysrootOptions& options,
                                          std::string_view name) {
  return sysroot::SysrootPaths(options.root).root / "mnt" / "mos" / std::string(name);
}

Result<MountedImage> mount_target(const sysroot::SysrootOptions& options, std::string_view name,
                                  const TargetMountOptions& mount) {
  sysroot::SysrootPaths paths(options.root);
  if (!sysroot::SystemHistory::exists(paths.history))
    return fail("no system is installed in {} (run mosctl install first)", paths.root.string());
  MOS_TRY_ASSIGN(auto policy, sysroot::load_trust_policy(paths, options));
  MOS_TRY_ASSIGN(auto lock, sysroot::lock_for_reading(paths, options.no_wait));
  MOS_TRY_ASSIGN(auto history, sysroot::SystemHistory::open(paths.history, false));
  MOS_TRY_ASSIGN(auto head, history.head());
  if (!head)
    return fail("no system is installed in {} (run mosctl install first)", paths.root.string());
  MOS_TRY_ASSIGN(auto store, oci::LayoutStore::open(paths.store, false));
  MOS_TRY_ASSIGN(auto system, sysroot::load_system(history, *head, policy, store.get()));

  const manifest::Target* found = nullptr;
  std::vector<std::string> names;
  for (const auto& t : system.targets) {
    names.push_back(t.target.service_name);
    bool match = name.empty() ? t.target.service_type == manifest::ServiceType::hostfs
                              : t.target.service_name == name;
    if (match && !found) found = &t.target;
  }
  if (!found) {
    if (name.empty())
      return fail("the installed system has no hostfs target (targets: {})",
                  fmt::join(names, ", "));
    return fail("the installed system has no target \"{}\" (targets: {})", name,
                fmt::join(names, ", "));
  }
  auto dest = mount.dest.value_or(default_target_dest(options, found->service_name));
  MOS_TRY(make_dirs(dest, 0755));
  MountOptions o;
  o.read_only = mount.read_only;
  o.allow_missing_verity = mount.allow_missing_verity;
  o.run_dir = mount.run_dir;
  if (!mount.read_only) {
    auto scratch = paths.scratch / "roots" / found->service_name;
    MOS_TRY(make_dirs(scratch, 0700));
    o.scratch = scratch;
  }
  return mount_image(*store, found->digest->str(), dest, o);
}

}  // namespace mos::atomfs
