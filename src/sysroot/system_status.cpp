#include <chrono>

#include "manifest/manifest.hpp"
#include "oci/layout_store.hpp"
#include "sysroot/boot_trial.hpp"
#include "sysroot/change_session.hpp"
#include "sysroot/system_operations.hpp"

namespace mos::sysroot {
namespace {

std::string time_text(std::int64_t seconds) {
  return trust::format_time(trust::TimePoint(std::chrono::seconds(seconds)));
}

OrderedJson system_json(const InstalledSystem& system) {
  OrderedJson j;
  j["commit"] = system.commit;
  j["product"] = system.record.product;
  OrderedJson install;
  install["source"] = system.record.install.source;
  install["reference"] = system.record.install.reference;
  install["created"] =
      system.record.install.created ? OrderedJson(*system.record.install.created) : OrderedJson();
  j["install"] = install;
  OrderedJson targets = OrderedJson::array();
  for (const auto& t : system.targets) {
    const auto& cert = system.sources.at(t.source).certificate;
    OrderedJson o;
    o["name"] = t.target.service_name;
    o["version"] = t.target.version;
    o["service_type"] = manifest::to_string(t.target.service_type);
    o["nsgroup"] = t.target.nsgroup;
    o["digest"] = t.target.digest->str();
    o["size"] = *t.target.size;
    o["source"] = t.source;
    o["signer"] = cert.subject;
    o["signer_not_after"] = trust::format_time(cert.not_after);
    targets.push_back(o);
  }
  j["targets"] = targets;
  OrderedJson storage = OrderedJson::array();
  for (const auto& s : system.storage) {
    OrderedJson o;
    o["label"] = s.item.label;
    o["persistent"] = s.item.persistent;
    o["nsgroup"] = s.item.nsgroup;
    o["size_mib"] = s.item.size_mib;
    o["source"] = s.source;
    storage.push_back(o);
  }
  j["storage"] = storage;
  OrderedJson maps = OrderedJson::array();
  for (const auto& r : system.record.uidmaps)
    maps.push_back({{"nsgroup", r.nsgroup}, {"hostid", r.hostid}, {"size", r.size}});
  j["uidmaps"] = maps;
  OrderedJson certs = OrderedJson::array();
  for (const auto& [source, triple] : system.sources) {
    OrderedJson o;
    o["source"] = source;
    o["subject"] = triple.certificate.subject;
    o["issuer"] = triple.certificate.issuer;
    o["not_after"] = trust::format_time(triple.certificate.not_after);
    certs.push_back(o);
  }
  j["certificates"] = certs;
  return j;
}

}  // namespace

Result<Json> status(const SysrootOptions& options) {
  SysrootPaths paths(options.root);
  Json out;
  out["root"] = paths.root.string();
  if (!SystemHistory::exists(paths.history)) {
    out["installed"] = false;
    return out;
  }
  MOS_TRY_ASSIGN(auto policy, load_trust_policy(paths, options));
  MOS_TRY_ASSIGN(auto lock, lock_for_reading(paths, options.no_wait));
  MOS_TRY_ASSIGN(auto history, SystemHistory::open(paths.history, false));
  MOS_TRY_ASSIGN(auto head, history.head());
  if (!head) {
    out["installed"] = false;
    return out;
  }
  MOS_TRY_ASSIGN(auto store, oci::LayoutStore::open(paths.store, false));
  MOS_TRY_ASSIGN(auto current, load_system(history, *head, policy, store.get()));
  out["installed"] = true;
  out["system"] = Json::parse(system_json(current).dump());
  MOS_TRY_ASSIGN(auto previous, previous_system(history));
  out["rollback_to"] = previous ? Json(*previous) : Json();
  // A trial whose "previous" is HEAD is stale (an update killed before its commit): not shown.
  // An unreadable marker is shown, not fatal: the next boot sets it aside.
  auto trial = read_boot_trial(paths);
  if (!trial)
    out["boot_trial"] = Json{{"error", trial.error().message}};
  else
    out["boot_trial"] = *trial && (*trial)->previous != *head
                            ? Json{{"previous", (*trial)->previous}, {"boots", (*trial)->boots}}
                            : Json();
  MOS_TRY_ASSIGN(auto log, history.log());
  Json entries = Json::array();
  for (const auto& e : log)
    entries.push_back({{"commit", e.commit},
                       {"tree", e.tree},
                       {"time", time_text(e.time)},
                       {"message", e.message}});
  out["history"] = entries;
  return out;
}

std::string format_status(const Json& s) {
  std::string text;
  auto line = [&](std::string l) { text += l + "\n"; };
  if (!s.value("installed", false)) {
    line(fmt::format("no system is installed in {}", s.value("root", "")));
    return text;
  }
  const Json& sys = s["system"];
  line(fmt::format("system {} (product {})", sys["commit"].get<std::string>().substr(0, 12),
                   sys["product"].get<std::string>()));
  // The history names install manifests by the sha256 of their signed install.json, not by the
  // digest of the OCI manifest that carried it: say which it is.
  line(fmt::format("install.json {} (sha256 of the signed file) from {}{}",
                   sys["install"]["source"].get<std::string>().substr(0, 12),
                   sys["install"]["reference"].get<std::string>(),
                   sys["install"]["created"].is_string()
                       ? ", created " + sys["install"]["created"].get<std::string>()
                       : ""));
  if (s.contains("boot_trial") && s["boot_trial"].contains("error"))
    line(fmt::format("boot trial marker unreadable (the next boot sets it aside): {}",
                     s["boot_trial"]["error"].get<std::string>()));
  else if (s.contains("boot_trial") && s["boot_trial"].is_object())
    line(fmt::format(
        "on trial: {}; a boot that does not come up returns to {}",
        s["boot_trial"]["boots"].get<int>() == 0 ? "not booted yet" : "booted, not yet up",
        s["boot_trial"]["previous"].get<std::string>().substr(0, 12)));
  line("targets (and the install.json that names each):");
  for (const auto& t : sys["targets"])
    line(fmt::format("  {:<16} {:<12} {:<9} {}  in {}", t["name"].get<std::string>(),
                     t["version"].get<std::string>(), t["service_type"].get<std::string>(),
                     t["digest"].get<std::string>(), t["source"].get<std::string>().substr(0, 12)));
  if (!sys["storage"].empty()) {
    line("storage:");
    for (const auto& st : sys["storage"])
      line(fmt::format("  {:<16} {} MiB{}{}", st["label"].get<std::string>(),
                       st["size_mib"].get<std::uint64_t>(),
                       st["persistent"].get<bool>() ? ", persistent" : "",
                       st["nsgroup"].get<std::string>().empty()
                           ? ""
                           : ", nsgroup " + st["nsgroup"].get<std::string>()));
  }
  if (!sys["uidmaps"].empty()) {
    line("uid ranges:");
    for (const auto& r : sys["uidmaps"])
      line(fmt::format("  {:<16} {}-{}", r["nsgroup"].get<std::string>(),
                       r["hostid"].get<std::uint64_t>(),
                       r["hostid"].get<std::uint64_t>() + r["size"].get<std::uint64_t>() - 1));
  }
  line("signed by (per install.json):");
  for (const auto& c : sys["certificates"])
    line(fmt::format("  {}  {} (valid until {})", c["source"].get<std::string>().substr(0, 12),
                     c["subject"].get<std::string>(), c["not_after"].get<std::string>()));
  line("history:");
  for (const auto& e : s["history"])
    line(fmt::format("  {}  {}  {}", e["commit"].get<std::string>().substr(0, 12),
                     e["time"].get<std::string>(), e["message"].get<std::string>()));
  return text;
}

}  // namespace mos::sysroot
