// install.json, the signed document. Encoding follows the walkthrough byte for byte: compact Go
// json.Marshal output with its field order, nil lists as null; storage lists are left out when
// empty (the walkthrough's manifest has none). Reading accepts the original's explicit
// "storage": null as well.
#include <set>

#include "core/json.hpp"
#include "manifest/manifest.hpp"
#include "oci/descriptor.hpp"

namespace mos::manifest {

namespace {

OrderedJson encode_target(const Target& t) {
  OrderedJson out = OrderedJson::object();
  out["service_name"] = t.service_name;
  out["version"] = t.version;
  out["service_type"] = to_string(t.service_type);
  OrderedJson network = OrderedJson::object();
  network["type"] = to_string(t.network.type);
  network["ipv4"] = t.network.ipv4;
  network["ipv6"] = t.network.ipv6;
  if (t.network.ports.empty()) {
    network["ports"] = nullptr;
  } else {
    OrderedJson ports = OrderedJson::array();
    for (const auto& p : t.network.ports)
      ports.push_back(OrderedJson{{"host", p.host}, {"container", p.container}});
    network["ports"] = std::move(ports);
  }
  out["network"] = std::move(network);
  out["nsgroup"] = t.nsgroup;
  out["digest"] = t.digest->str();
  if (!t.storage.empty()) {
    OrderedJson storage = OrderedJson::array();
    for (const auto& s : t.storage)
      storage.push_back(OrderedJson{{"dest", s.dest}, {"label", s.label}});
    out["storage"] = std::move(storage);
  }
  out["size"] = *t.size;
  return out;
}

// Strict object walking for install.json: every key must be known and typed right.
class JsonObject {
 public:
  JsonObject(const Json& value, std::string where) : value_(value), where_(std::move(where)) {}

  Status only(std::initializer_list<std::string_view> allowed) const {
    if (!value_.is_object()) return fail("install.json: {} must be an object", where_);
    for (const auto& [key, v] : value_.items()) {
      bool known = false;
      for (auto a : allowed) known = known || key == a;
      if (!known) return fail("install.json: unknown key \"{}\" in {}", key, where_);
    }
    return {};
  }
  Result<std::string> string(std::string_view key, bool required = true) const {
    auto it = value_.find(key);
    if (it == value_.end()) {
      if (required) return fail("install.json: {} is missing \"{}\"", where_, key);
      return std::string();
    }
    if (!it->is_string()) return fail("install.json: {} \"{}\" must be a string", where_, key);
    return it->get<std::string>();
  }
  Result<std::int64_t> integer(std::string_view key) const {
    auto it = value_.find(key);
    if (it == value_.end()) return fail("install.json: {} is missing \"{}\"", where_, key);
    if (!it->is_number_integer())
      return fail("install.json: {} \"{}\" must be an integer", where_, key);
    return it->get<std::int64_t>();
  }
  // A list that Go may have written as null or left out.
  Result<std::vector<Json>> list(std::string_view key) const {
    auto it = value_.find(key);
    if (it == value_.end() || it->is_null()) return std::vector<Json>{};
    if (!it->is_array()) return fail("install.json: {} \"{}\" must be a list", where_, key);
    return std::vector<Json>(it->begin(), it->end());
  }
  const Json* member(std::string_view key) const {
    auto it = value_.find(key);
    return it == value_.end() ? nullptr : &*it;
  }
  const std::string& where() const { return where_; }

 private:
  const Json& value_;
  std::string where_;
};

template <class Enum>
Result<Enum> enum_from(std::string_view text, std::initializer_list<Enum> values,
                       std::string_view what) {
  for (auto v : values)
    if (to_string(v) == text) return v;
  return fail("install.json: unknown {} \"{}\"", what, text);
}

Result<Target> decode_target(const Json& value, std::size_t index) {
  JsonObject o(value, fmt::format("targets[{}]", index));
  MOS_TRY(o.only({"service_name", "version", "service_type", "network", "nsgroup", "digest",
                  "storage", "size"}));
  Target t;
  MOS_TRY_ASSIGN(t.service_name, o.string("service_name"));
  MOS_TRY_ASSIGN(t.version, o.string("version"));
  MOS_TRY_ASSIGN(auto type, o.string("service_type"));
  MOS_TRY_ASSIGN(
      t.service_type,
      enum_from(type, {ServiceType::hostfs, ServiceType::container, ServiceType::fs_only},
                "service_type"));
  MOS_TRY_ASSIGN(t.nsgroup, o.string("nsgroup", false));
  MOS_TRY_ASSIGN(auto digest_text, o.string("digest"));
  auto digest = oci::Digest::parse(digest_text);
  if (!digest) return fail("install.json: {}: {}", o.where(), digest.error().message);
  t.digest = *digest;
  MOS_TRY_ASSIGN(auto size, o.integer("size"));
  if (size <= 0) return fail("install.json: {} size must be positive", o.where());
  t.size = size;
  if (const Json* network = o.member("network")) {
    JsonObject n(*network, o.where() + " network");
    MOS_TRY(n.only({"type", "ipv4", "ipv6", "ports"}));
    MOS_TRY_ASSIGN(auto ntype, n.string("type"));
    MOS_TRY_ASSIGN(t.network.type,
                   enum_from(ntype, {NetworkType::host, NetworkType::none, NetworkType::simple},
                             "network type"));
    MOS_TRY_ASSIGN(t.network.ipv4, n.string("ipv4", false));
    MOS_TRY_ASSIGN(t.network.ipv6, n.string("ipv6", false));
    MOS_TRY_ASSIGN(auto ports, n.list("ports"));
    for (std::size_t i = 0; i < ports.size(); ++i) {
      JsonObject p(ports[i], fmt::format("{} port {}", o.where(), i));
      MOS_TRY(p.only({"host", "container"}));
      MOS_TRY_ASSIGN(auto host, p.integer("host"));
      MOS_TRY_ASSIGN(auto container, p.integer("container"));
      if (host < 1 || host > 65535 || container < 1 || container > 65535)
        return fail("install.json: {} port {}:{} is outside 1-65535", o.where(), host, container);
      t.network.ports.push_back(Port{static_cast<int>(host), static_cast<int>(container)});
    }
  }
  MOS_TRY_ASSIGN(auto storage, o.list("storage"));
  for (std::size_t i = 0; i < storage.size(); ++i) {
    JsonObject s(storage[i], fmt::format("{} storage {}", o.where(), i));
    MOS_TRY(s.only({"dest", "label"}));
    TargetStorage ts;
    MOS_TRY_ASSIGN(ts.dest, s.string("dest"));
    MOS_TRY_ASSIGN(ts.label, s.string("label"));
    t.storage.push_back(std::move(ts));
  }
  return t;
}

}  // namespace

Result<std::string> encode_install_json(const Manifest& m) {
  MOS_TRY(validate_manifest(m, "install manifest"));
  OrderedJson out = OrderedJson::object();
  out["version"] = m.version;
  out["product"] = m.product;
  if (!m.storage.empty()) {
    OrderedJson storage = OrderedJson::array();
    for (const auto& s : m.storage)
      storage.push_back(OrderedJson{{"label", s.label},
                                    {"persistent", s.persistent},
                                    {"nsgroup", s.nsgroup},
                                    {"size", s.size_mib}});
    out["storage"] = std::move(storage);
  }
  OrderedJson targets = OrderedJson::array();
  for (const auto& t : m.targets) {
    if (!t.digest || !t.size)
      return fail("target {} has no pinned digest and size (resolve its source first)",
                  t.service_name);
    targets.push_back(encode_target(t));
  }
  out["targets"] = std::move(targets);
  out["update_type"] = to_string(m.update_type);
  return oci::encode_compact(out);
}

Result<Manifest> parse_install_json(std::string_view bytes) {
  MOS_TRY_ASSIGN(auto json,
                 parse_json_strict(bytes, "install.json", {.max_bytes = kMaxInstallJsonBytes}));
  JsonObject o(json, "the document");
  MOS_TRY(o.only({"version", "product", "storage", "targets", "update_type"}));
  Manifest m;
  MOS_TRY_ASSIGN(auto version, o.integer("version"));
  if (version != 1) return fail("install.json: version must be 1, not {}", version);
  MOS_TRY_ASSIGN(m.product, o.string("product"));
  MOS_TRY_ASSIGN(auto update_type, o.string("update_type"));
  MOS_TRY_ASSIGN(m.update_type, enum_from(update_type, {UpdateType::complete, UpdateType::partial},
                                          "update_type"));
  MOS_TRY_ASSIGN(auto storage, o.list("storage"));
  for (std::size_t i = 0; i < storage.size(); ++i) {
    JsonObject s(storage[i], fmt::format("storage[{}]", i));
    MOS_TRY(s.only({"label", "persistent", "nsgroup", "size"}));
    StorageItem item;
    MOS_TRY_ASSIGN(item.label, s.string("label"));
    MOS_TRY_ASSIGN(item.nsgroup, s.string("nsgroup", false));
    if (const Json* p = s.member("persistent")) {
      if (!p->is_boolean())
        return fail("install.json: storage[{}] persistent must be true or false", i);
      item.persistent = p->get<bool>();
    }
    MOS_TRY_ASSIGN(auto size, s.integer("size"));
    if (size <= 0) return fail("install.json: storage[{}] size must be positive", i);
    item.size_mib = static_cast<std::uint64_t>(size);
    m.storage.push_back(std::move(item));
  }
  MOS_TRY_ASSIGN(auto targets, o.list("targets"));
  for (std::size_t i = 0; i < targets.size(); ++i) {
    MOS_TRY_ASSIGN(auto t, decode_target(targets[i], i));
    m.targets.push_back(std::move(t));
  }
  if (auto ok = validate_manifest(m, "install.json"); !ok)
    return fail("install.json: {}", ok.error().message);
  return m;
}

}  // namespace mos::manifest
