#include "runtime/service_plan.hpp"

#include <algorithm>

namespace mos::runtime {

namespace {

bool uses_host_ids(const std::string& nsgroup) {
  return nsgroup.empty() || nsgroup == "none";
}

Result<std::optional<sysroot::UidRange>> ids_of(const std::vector<sysroot::UidRange>& uidmaps,
                                                const std::string& nsgroup, std::string_view who) {
  if (uses_host_ids(nsgroup)) return std::optional<sysroot::UidRange>{};
  for (const auto& r : uidmaps)
    if (r.nsgroup == nsgroup) return std::optional<sysroot::UidRange>{r};
  return fail("{}: nsgroup {} has no uid range in the installed system", who, nsgroup);
}

const ServiceSpec* find(const std::vector<ServiceSpec>& services, const std::string& name) {
  for (const auto& s : services)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace

Result<BootPlan> plan_boot(const SystemParts& system, const Ipv4Subnet& subnet,
                           const Ipv6Subnet& subnet6,
                           const std::map<std::string, std::uint32_t>& remembered_addresses) {
  BootPlan plan;
  plan.subnet = subnet;
  for (const auto& item : system.storage) {
    MOS_TRY_ASSIGN(auto ids, ids_of(system.uidmaps, item.nsgroup, "storage " + item.label));
    plan.volumes.push_back({item, ids});
  }
  std::vector<AddressRequest> requests;
  for (const auto& t : system.targets) {
    if (t.service_type == manifest::ServiceType::hostfs || t.service_name == "bootkit") continue;
    if (!t.digest) return fail("service {}: its image is not pinned to a digest", t.service_name);
    ServiceSpec s{t.service_name,
                  t.version,
                  *t.digest,
                  t.service_type,
                  std::nullopt,
                  t.network.type,
                  std::nullopt,
                  std::nullopt,
                  {},
                  t.storage,
                  {}};
    MOS_TRY_ASSIGN(s.ids, ids_of(system.uidmaps, t.nsgroup, "service " + t.service_name));
    if (t.service_type == manifest::ServiceType::container) {
      auto config = system.configs.find(t.service_name);
      if (config == system.configs.end())
        return fail("service {}: its image config was not read", t.service_name);
      s.config = config->second;
      if (image::command_of(s.config).empty())
        return fail("service {}: its image has neither Entrypoint nor Cmd: nothing to run",
                    t.service_name);
    }
    if (t.network.type == manifest::NetworkType::simple)
      requests.push_back({t.service_name, t.network.ipv4, t.network.ipv6});
    plan.services.push_back(std::move(s));
  }
  MOS_TRY_ASSIGN(plan.addresses, assign_addresses(subnet, requests, remembered_addresses));
  MOS_TRY_ASSIGN(auto addresses6, assign_ipv6_addresses(subnet6, requests));
  if (!addresses6.empty()) plan.subnet6 = subnet6;
  std::vector<PortForward> all;
  for (const auto& t : system.targets) {
    if (t.network.type != manifest::NetworkType::simple) continue;
    auto service = std::find_if(plan.services.begin(), plan.services.end(),
                                [&](const ServiceSpec& s) { return s.name == t.service_name; });
    if (service == plan.services.end()) continue;
    service->address = plan.addresses.at(t.service_name);
    if (auto v6 = addresses6.find(t.service_name); v6 != addresses6.end())
      service->address6 = v6->second;
    for (const auto& p : t.network.ports) {
      // Out-of-range ports become 0, which check_forwards refuses naming the service.
      auto port = [](int value) {
        return static_cast<std::uint16_t>(value >= 1 && value <= 65535 ? value : 0);
      };
      PortForward f{t.service_name, port(p.host), *service->address, port(p.container),
                    service->address6};
      service->forwards.push_back(f);
      all.push_back(f);
    }
  }
  MOS_TRY(check_forwards(all));
  return plan;
}

PlanChange compare_plans(const BootPlan& current, const BootPlan& next) {
  PlanChange change;
  for (const auto& s : current.services) {
    const auto* after = find(next.services, s.name);
    if (!after || !(*after == s)) change.stop.push_back(s.name);
  }
  for (const auto& s : next.services) {
    const auto* before = find(current.services, s.name);
    if (!before || !(*before == s)) change.start.push_back(s.name);
  }
  return change;
}

}  // namespace mos::runtime
