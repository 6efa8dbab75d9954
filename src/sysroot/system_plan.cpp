#include "sysroot/system_plan.hpp"

#include <algorithm>

#include "sysroot/uid_allocation.hpp"
#include "sysroot/version_order.hpp"

namespace mos::sysroot {
namespace {

// Checks the merged system as a whole with the rules every signed manifest satisfies
// (duplicates, storage labels a target uses but nobody declares, ...).
Status validate_merged(const PlannedSystem& plan,
                       const std::vector<manifest::StorageItem>& storage) {
  manifest::Manifest merged;
  merged.product = plan.record.product;
  merged.targets = plan.targets;
  merged.storage = storage;
  return manifest::validate_manifest(merged, "the resulting system");
}

Result<std::vector<UidRange>> uid_ranges_for(const std::vector<UidRange>& existing,
                                             const PlannedSystem& plan,
                                             const std::vector<manifest::StorageItem>& storage) {
  return allocate_uid_ranges(existing, nsgroups_in_use(plan.targets, storage));
}

Status check_created(const InstalledSystem& current, const IncomingInstall& incoming, bool allow,
                     std::vector<std::string>& downgrades) {
  if (!current.record.install.created || !incoming.created) return {};
  auto old_time = parse_rfc3339(*current.record.install.created);
  auto new_time = parse_rfc3339(*incoming.created);
  std::string problem;
  if (!new_time)
    problem = fmt::format("the install manifest's creation time cannot be ordered: {}",
                          new_time.error().message);
  else if (old_time && *new_time < *old_time)
    problem = fmt::format("the install manifest was created at {}, before the installed one ({})",
                          *incoming.created, *current.record.install.created);
  if (problem.empty()) return {};
  if (!allow) return fail("refusing a downgrade: {} (use --allow-downgrade to force it)", problem);
  downgrades.push_back(problem);
  return {};
}

Status check_version(const manifest::Target& old_target, const manifest::Target& new_target,
                     bool allow, std::vector<std::string>& downgrades) {
  auto a = parse_version(old_target.version);
  auto b = parse_version(new_target.version);
  std::string problem;
  if (!a || !b)
    problem =
        fmt::format("target {}: versions {} and {} cannot be ordered ({})", new_target.service_name,
                    old_target.version, new_target.version, (!a ? a.error() : b.error()).message);
  else if (compare_versions(*b, *a) < 0)
    problem = fmt::format("target {} would go from version {} down to {}", new_target.service_name,
                          old_target.version, new_target.version);
  if (problem.empty()) return {};
  if (!allow) return fail("refusing a downgrade: {} (use --allow-downgrade to force it)", problem);
  downgrades.push_back(problem);
  return {};
}

}  // namespace

Result<PlannedSystem> plan_install(const IncomingInstall& incoming) {
  const auto& m = incoming.triple.manifest;
  if (m.update_type != manifest::UpdateType::complete)
    return fail("{} is a partial update; a first install needs a complete install manifest",
                incoming.reference);
  PlannedSystem plan;
  plan.record.product = m.product;
  plan.record.install = {incoming.triple.source, incoming.reference, incoming.created};
  for (const auto& t : m.targets) {
    plan.record.targets.push_back({t.service_name, incoming.triple.source});
    plan.targets.push_back(t);
  }
  for (const auto& s : m.storage) plan.record.storage.push_back({s.label, incoming.triple.source});
  plan.triples.emplace(incoming.triple.source, incoming.triple.files);
  MOS_TRY(validate_merged(plan, m.storage));
  MOS_TRY_ASSIGN(plan.record.uidmaps, uid_ranges_for({}, plan, m.storage));
  return plan;
}

Result<PlannedSystem> plan_update(const InstalledSystem& current, const IncomingInstall& incoming,
                                  bool allow_downgrade) {
  const auto& m = incoming.triple.manifest;
  const auto& source = incoming.triple.source;
  if (m.product != current.record.product)
    return fail("{} is for product {}, but the installed system is product {}", incoming.reference,
                m.product, current.record.product);
  PlannedSystem plan;
  MOS_TRY(check_created(current, incoming, allow_downgrade, plan.downgrades));
  for (const auto& t : m.targets) {
    auto old = std::find_if(
        current.targets.begin(), current.targets.end(),
        [&](const InstalledTarget& i) { return i.target.service_name == t.service_name; });
    if (old != current.targets.end())
      MOS_TRY(check_version(old->target, t, allow_downgrade, plan.downgrades));
  }

  plan.record.product = current.record.product;
  plan.record.install = {source, incoming.reference, incoming.created};
  std::vector<manifest::StorageItem> storage;
  if (m.update_type == manifest::UpdateType::partial) {
    for (const auto& old : current.targets) {
      if (m.find_target(old.target.service_name)) continue;
      plan.record.targets.push_back({old.target.service_name, old.source});
      plan.targets.push_back(old.target);
    }
    for (const auto& old : current.storage) {
      bool renamed =
          std::any_of(m.storage.begin(), m.storage.end(),
                      [&](const manifest::StorageItem& s) { return s.label == old.item.label; });
      if (renamed) continue;
      plan.record.storage.push_back({old.item.label, old.source});
      storage.push_back(old.item);
    }
  }
  for (const auto& t : m.targets) {
    plan.record.targets.push_back({t.service_name, source});
    plan.targets.push_back(t);
  }
  for (const auto& s : m.storage) {
    plan.record.storage.push_back({s.label, source});
    storage.push_back(s);
  }
  MOS_TRY(validate_merged(plan, storage));
  MOS_TRY_ASSIGN(plan.record.uidmaps, uid_ranges_for(current.record.uidmaps, plan, storage));
  // Triples: the new one and those of every kept target and volume.
  plan.triples.emplace(source, incoming.triple.files);
  auto keep = [&](const std::string& s) {
    if (!plan.triples.contains(s)) plan.triples.emplace(s, current.sources.at(s).files);
  };
  for (const auto& t : plan.record.targets) keep(t.source);
  for (const auto& s : plan.record.storage) keep(s.source);
  return plan;
}

}  // namespace mos::sysroot
