#include "atomfs/target_mount.hpp"

#include "core/file.hpp"
#include "sysroot/installed_system.hpp"
#include "sysroot/system_history.hpp"

namespace mos::atomfs {

std::filesystem::path default_target_dest(const sysroot::SysrootOptions& options,
                                          std::string_view name) {
  return sysroot::SysrootPaths(options.root).root / "mnt" / "mos" / std::string(name);
}

Result<MountedTarget> mount_target(const sysroot::SysrootOptions& options, std::string_view name,
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
  MOS_TRY_ASSIGN(auto product, sysroot::installed_product_uuid(system));
  MOS_TRY_ASSIGN(auto image, mount_image(*store, found->digest->str(), dest, o));
  return MountedTarget{std::move(image), std::move(product), sysroot::booted_system_of(system)};
}

Result<MountedImage> mount_published_target(std::string_view reference,
                                            const manifest::TrustPolicy& policy,
                                            std::string_view name,
                                            const TargetMountOptions& mount) {
  MOS_TRY_ASSIGN(auto ref, oci::Reference::parse(reference));
  // Layouts only: a live system boots from its medium, and the initramfs has no HTTP client.
  if (!ref.is_layout())
    return fail("{}: a live system is mounted from an OCI layout (oci:DIR:TAG), not a registry",
                reference);
  if (!mount.dest) return fail("mounting {} needs a destination", reference);
  MOS_TRY_ASSIGN(auto install, oci::LayoutStore::open(ref.layout_dir, false));
  MOS_TRY_ASSIGN(auto targets_ref, manifest::targets_reference(ref));
  MOS_TRY_ASSIGN(auto targets, oci::LayoutStore::open(targets_ref.layout_dir, false));
  auto verified = manifest::verify_install(*install, ref.tag_or_digest(), policy, targets.get());
  if (!verified) return context(std::string(reference), verified.error());
  const manifest::Target* found = nullptr;
  std::vector<std::string> names;
  for (const auto& t : verified->manifest.targets) {
    names.push_back(t.service_name);
    if (t.service_name == name && !found) found = &t;
  }
  if (!found)
    return fail("{} has no target \"{}\" (targets: {})", reference, name, fmt::join(names, ", "));
  MOS_TRY(make_dirs(*mount.dest, 0755));
  MountOptions o;
  o.read_only = mount.read_only;
  o.allow_missing_verity = mount.allow_missing_verity;
  o.run_dir = mount.run_dir;
  return mount_image(*targets, found->digest->str(), *mount.dest, o);
}

}  // namespace mos::atomfs
