#include "sysroot/system_manifest.hpp"

#include <set>

#include "core/json.hpp"
#include "oci/digest.hpp"
#include "sysroot/uid_allocation.hpp"

namespace mos::sysroot {
namespace {

Status only_keys(const Json& object, std::initializer_list<std::string_view> keys,
                 std::string_view where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto k : keys) known = known || key == k;
    if (!known) return fail("{}: unknown key \"{}\"", where, key);
  }
  return {};
}

Result<const Json*> member(const Json& object, std::string_view key, Json::value_t type,
                           std::string_view where) {
  auto it = object.find(key);
  if (it == object.end()) return fail("{}: missing \"{}\"", where, key);
  if (it->type() != type &&
      !(type == Json::value_t::number_unsigned && it->type() == Json::value_t::number_integer &&
        it->get<std::int64_t>() >= 0))
    return fail("{}: \"{}\" has the wrong type ({})", where, key, json_type_name(*it));
  return &*it;
}

Result<std::uint64_t> unsigned_member(const Json& object, std::string_view key,
                                      std::string_view where) {
  MOS_TRY_ASSIGN(auto value, member(object, key, Json::value_t::number_unsigned, where));
  return value->get<std::uint64_t>();
}

Result<std::vector<SourcedName>> parse_sourced(const Json& object, std::string_view key,
                                               std::string_view name_key) {
  MOS_TRY_ASSIGN(auto list, member(object, key, Json::value_t::array, "manifest.json"));
  std::vector<SourcedName> result;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    std::string where = fmt::format("manifest.json {}[{}]", key, i);
    if (!item.is_object()) return fail("{}: expected an object", where);
    MOS_TRY(only_keys(item, {name_key, "source"}, where));
    MOS_TRY_ASSIGN(auto name, json_string(item, name_key, where));
    MOS_TRY_ASSIGN(auto source, json_string(item, "source", where));
    if (name.empty()) return fail("{}: empty {}", where, name_key);
    if (!is_source_name(source))
      return fail("{}: source \"{}\" is not <sha256 hex>.json", where, source);
    if (!seen.insert(name).second) return fail("{}: duplicate {} \"{}\"", where, name_key, name);
    result.push_back({name, source});
  }
  return result;
}

}  // namespace

bool is_source_name(std::string_view name) {
  if (name.size() != 64 + 5 || !name.ends_with(".json")) return false;
  for (char c : name.substr(0, 64))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string source_name(std::string_view install_json) {
  return oci::digest_of(install_json).hex() + ".json";
}

std::string encode_system_manifest(const SystemManifest& m) {
  OrderedJson j;
  j["format"] = 1;
  j["product"] = m.product;
  OrderedJson install;
  install["source"] = m.install.source;
  install["reference"] = m.install.reference;
  if (m.install.created) install["created"] = *m.install.created;
  j["install"] = install;
  auto sourced = [](const std::vector<SourcedName>& list, const char* name_key) {
    OrderedJson a = OrderedJson::array();
    for (const auto& s : list) {
      OrderedJson o;
      o[name_key] = s.name;
      o["source"] = s.source;
      a.push_back(o);
    }
    return a;
  };
  j["targets"] = sourced(m.targets, "name");
  j["storage"] = sourced(m.storage, "label");
  OrderedJson maps = OrderedJson::array();
  for (const auto& r : m.uidmaps) {
    OrderedJson o;
    o["nsgroup"] = r.nsgroup;
    o["hostid"] = r.hostid;
    o["size"] = r.size;
    maps.push_back(o);
  }
  j["uidmaps"] = maps;
  return j.dump(2) + "\n";
}

Result<SystemManifest> parse_system_manifest(std::string_view bytes) {
  MOS_TRY_ASSIGN(
      auto j, parse_json_strict(bytes, "manifest.json", JsonLimits{kMaxSystemManifestBytes, 16}));
  if (!j.is_object()) return fail("manifest.json: expected an object");
  MOS_TRY(only_keys(j, {"format", "product", "install", "targets", "storage", "uidmaps"},
                    "manifest.json"));
  MOS_TRY_ASSIGN(auto format, json_int(j, "format", "manifest.json"));
  if (format != 1) return fail("manifest.json: format {} is not supported (expected 1)", format);
  SystemManifest m;
  MOS_TRY_ASSIGN(m.product, json_string(j, "product", "manifest.json"));
  MOS_TRY_ASSIGN(auto install, member(j, "install", Json::value_t::object, "manifest.json"));
  MOS_TRY(only_keys(*install, {"source", "reference", "created"}, "manifest.json install"));
  MOS_TRY_ASSIGN(m.install.source, json_string(*install, "source", "manifest.json install"));
  MOS_TRY_ASSIGN(m.install.reference, json_string(*install, "reference", "manifest.json install"));
  MOS_TRY_ASSIGN(m.install.created,
                 json_optional_string(*install, "created", "manifest.json install"));
  if (!is_source_name(m.install.source))
    return fail("manifest.json install: source \"{}\" is not <sha256 hex>.json", m.install.source);
  MOS_TRY_ASSIGN(m.targets, parse_sourced(j, "targets", "name"));
  MOS_TRY_ASSIGN(m.storage, parse_sourced(j, "storage", "label"));
  MOS_TRY_ASSIGN(auto maps, member(j, "uidmaps", Json::value_t::array, "manifest.json"));
  for (std::size_t i = 0; i < maps->size(); ++i) {
    const Json& item = (*maps)[i];
    std::string where = fmt::format("manifest.json uidmaps[{}]", i);
    if (!item.is_object()) return fail("{}: expected an object", where);
    MOS_TRY(only_keys(item, {"nsgroup", "hostid", "size"}, where));
    UidRange r;
    MOS_TRY_ASSIGN(r.nsgroup, json_string(item, "nsgroup", where));
    MOS_TRY_ASSIGN(r.hostid, unsigned_member(item, "hostid", where));
    MOS_TRY_ASSIGN(r.size, unsigned_member(item, "size", where));
    if (r.nsgroup.empty() || r.nsgroup == "none")
      return fail("{}: nsgroup \"{}\" has no uid range", where, r.nsgroup);
    m.uidmaps.push_back(r);
  }
  MOS_TRY(check_uid_ranges(m.uidmaps));
  return m;
}

}  // namespace mos::sysroot
