#include "runtime/installed_services.hpp"

#include "core/file.hpp"
#include "core/json.hpp"
#include "oci/descriptor.hpp"
#include "oci/layout_store.hpp"
#include "sysroot/installed_system.hpp"
#include "sysroot/system_history.hpp"

namespace mos::runtime {
namespace {

constexpr std::size_t kConfigLimit = 1 << 20;

Result<image::ImageConfigFields> read_image_config(oci::LayoutStore& store,
                                                   const oci::Digest& digest) {
  MOS_TRY_ASSIGN(auto doc, store.get_manifest(digest.str()));
  MOS_TRY_ASSIGN(auto manifest, oci::parse_image_manifest(doc.bytes));
  MOS_TRY_ASSIGN(auto path, store.blob_path(manifest.config.digest));
  MOS_TRY_ASSIGN(auto bytes, read_file(path, kConfigLimit));
  if (oci::digest_of(bytes) != manifest.config.digest)
    return fail("image config {} of {} does not match its digest", path.string(), digest.str());
  return with_context(image::parse_image_config(bytes),
                      fmt::format("image config of {}", digest.str()));
}

std::map<std::string, std::uint32_t> read_addresses(const std::filesystem::path& file) {
  // A damaged memory only costs new addresses, never a refused boot.
  std::map<std::string, std::uint32_t> out;
  auto text = read_file(file, 1 << 20);
  if (!text) return out;
  auto doc = parse_json_strict(*text, file.string());
  if (!doc || !doc->is_object()) return out;
  for (const auto& [name, value] : doc->items())
    if (value.is_string())
      if (auto address = parse_ipv4(value.get<std::string>())) out[name] = *address;
  return out;
}

Status remember_addresses(const std::filesystem::path& file,
                          const std::map<std::string, std::uint32_t>& before,
                          const std::map<std::string, std::uint32_t>& now) {
  auto merged = before;  // services not in this system keep theirs for a rollback
  for (const auto& [name, address] : now) merged[name] = address;
  if (merged == before) return {};
  OrderedJson doc = OrderedJson::object();
  for (const auto& [name, address] : merged) doc[name] = format_ipv4(address);
  return write_file_atomic(file, doc.dump(2) + "\n", 0644);
}

// The history's head, verified again; or the system the initramfs verified in this boot.
Result<sysroot::InstalledSystem> system_to_plan(const sysroot::SysrootOptions& options,
                                                const sysroot::SysrootPaths& root,
                                                oci::LayoutStore* store,
                                                const sysroot::BootedSystem* booted) {
  if (booted) return sysroot::load_booted_system(*booted);
  MOS_TRY_ASSIGN(auto policy, sysroot::load_trust_policy(root, options));
  MOS_TRY_ASSIGN(auto history, sysroot::SystemHistory::open(root.history, false));
  MOS_TRY_ASSIGN(auto head, history.head());
  if (!head)
    return fail("no system is installed in {} (run mosctl install first)", root.root.string());
  return sysroot::load_system(history, *head, policy, store);
}

}  // namespace

Result<InstalledPlan> load_installed_plan(const sysroot::SysrootOptions& options,
                                          const BootPaths& paths, const Ipv4Subnet& subnet,
                                          const Ipv6Subnet& subnet6,
                                          const sysroot::BootedSystem* booted) {
  sysroot::SysrootPaths root(options.root);
  if (!booted && !sysroot::SystemHistory::exists(root.history))
    return fail("no system is installed in {} (run mosctl install first)", root.root.string());
  MOS_TRY_ASSIGN(auto lock, sysroot::lock_for_reading(root, options.no_wait));
  MOS_TRY_ASSIGN(auto store, oci::LayoutStore::open(root.store, false));
  MOS_TRY_ASSIGN(auto system, system_to_plan(options, root, store.get(), booted));

  SystemParts parts;
  parts.uidmaps = system.record.uidmaps;
  for (const auto& t : system.targets) {
    parts.targets.push_back(t.target);
    if (t.target.service_type == manifest::ServiceType::container && t.target.digest) {
      MOS_TRY_ASSIGN(parts.configs[t.target.service_name],
                     read_image_config(*store, *t.target.digest));
    }
  }
  for (const auto& s : system.storage) parts.storage.push_back(s.item);
  auto remembered = read_addresses(paths.addresses);
  MOS_TRY_ASSIGN(auto plan, plan_boot(parts, subnet, subnet6, remembered));
  MOS_TRY(make_dirs(paths.addresses.parent_path(), 0755));
  MOS_TRY(remember_addresses(paths.addresses, remembered, plan.addresses));
  return InstalledPlan{system.commit, std::move(plan)};
}

}  // namespace mos::runtime
