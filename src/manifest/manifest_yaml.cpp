// manifest.yaml reading. yaml-cpp keeps duplicate keys and accepts any scalar for any type, so
// every mapping is walked by hand: unknown and duplicate keys, wrong types and bad values are
// reported with the file, line and column of the offending node.
#include <set>

#include <yaml-cpp/yaml.h>

#include "core/file.hpp"
#include "core/text.hpp"
#include "core/yaml_reader.hpp"
#include "manifest/manifest.hpp"

namespace mos::manifest {

namespace {

template <class Enum, std::size_t N>
Result<Enum> parse_enum(const YamlReader& r, const YAML::Node& node, std::string_view what,
                        const std::pair<std::string_view, Enum> (&values)[N]) {
  MOS_TRY_ASSIGN(auto text, r.string(node, what));
  for (const auto& [name, value] : values)
    if (text == name) return value;
  std::vector<std::string_view> names;
  for (const auto& [name, value] : values) names.push_back(name);
  return r.error(node, "{} \"{}\" is not one of: {}", what, text, fmt::join(names, ", "));
}

constexpr std::pair<std::string_view, ServiceType> kServiceTypes[] = {
    {"hostfs", ServiceType::hostfs},
    {"container", ServiceType::container},
    {"fs-only", ServiceType::fs_only}};
constexpr std::pair<std::string_view, NetworkType> kNetworkTypes[] = {
    {"host", NetworkType::host}, {"none", NetworkType::none}, {"simple", NetworkType::simple}};
constexpr std::pair<std::string_view, UpdateType> kUpdateTypes[] = {
    {"complete", UpdateType::complete}, {"partial", UpdateType::partial}};

Result<Network> read_network(const YamlReader& r, const YAML::Node& node) {
  MOS_TRY(r.check_mapping(node, "network", {"type", "ipv4", "ipv6", "ports"}));
  Network n;
  if (!node["type"]) return r.error(node, "network needs a type (host, none, simple)");
  MOS_TRY_ASSIGN(n.type, parse_enum(r, node["type"], "network type", kNetworkTypes));
  if (node["ipv4"]) {
    MOS_TRY_ASSIGN(n.ipv4, r.string(node["ipv4"], "network ipv4"));
  }
  if (node["ipv6"]) {
    MOS_TRY_ASSIGN(n.ipv6, r.string(node["ipv6"], "network ipv6"));
  }
  if (node["ports"]) {
    MOS_TRY_ASSIGN(auto ports, r.sequence(node["ports"], "network ports"));
    for (const auto& p : ports) {
      MOS_TRY(r.check_mapping(p, "port", {"host", "container"}));
      if (!p["host"] || !p["container"]) return r.error(p, "a port needs both host and container");
      Port port;
      MOS_TRY_ASSIGN(auto host, r.integer(p["host"], "host port"));
      MOS_TRY_ASSIGN(auto container, r.integer(p["container"], "container port"));
      if (host < 1 || host > 65535)
        return r.error(p["host"], "host port {} is outside 1-65535", host);
      if (container < 1 || container > 65535)
        return r.error(p["container"], "container port {} is outside 1-65535", container);
      port.host = static_cast<int>(host);
      port.container = static_cast<int>(container);
      n.ports.push_back(port);
    }
  }
  return n;
}

Result<Target> read_target(const YamlReader& r, const YAML::Node& node) {
  MOS_TRY(r.check_mapping(node, "target",
                          {"service_name", "source", "version", "service_type", "nsgroup",
                           "network", "storage", "digest", "size"}));
  for (auto required : {"service_name", "source", "version", "service_type"})
    if (!node[required]) return r.error(node, "target is missing \"{}\"", required);
  Target t;
  MOS_TRY_ASSIGN(t.service_name, r.string(node["service_name"], "service_name"));
  MOS_TRY_ASSIGN(t.source, r.string(node["source"], "source"));
  MOS_TRY_ASSIGN(t.version, r.string(node["version"], "version"));
  MOS_TRY_ASSIGN(t.service_type,
                 parse_enum(r, node["service_type"], "service_type", kServiceTypes));
  if (node["nsgroup"]) {
    MOS_TRY_ASSIGN(t.nsgroup, r.string(node["nsgroup"], "nsgroup"));
  }
  if (node["network"]) {
    MOS_TRY_ASSIGN(t.network, read_network(r, node["network"]));
  }
  if (node["storage"]) {
    MOS_TRY_ASSIGN(auto items, r.sequence(node["storage"], "target storage"));
    for (const auto& s : items) {
      MOS_TRY(r.check_mapping(s, "target storage", {"dest", "label"}));
      if (!s["dest"] || !s["label"]) return r.error(s, "target storage needs dest and label");
      TargetStorage ts;
      MOS_TRY_ASSIGN(ts.dest, r.string(s["dest"], "storage dest"));
      MOS_TRY_ASSIGN(ts.label, r.string(s["label"], "storage label"));
      t.storage.push_back(std::move(ts));
    }
  }
  if (node["digest"]) {
    MOS_TRY_ASSIGN(auto text, r.string(node["digest"], "digest"));
    auto digest = oci::Digest::parse(text);
    if (!digest) return r.error(node["digest"], "{}", digest.error().message);
    t.digest = *digest;
  }
  if (node["size"]) {
    MOS_TRY_ASSIGN(auto size, r.integer(node["size"], "size"));
    if (size <= 0) return r.error(node["size"], "size must be positive");
    t.size = size;
  }
  return t;
}

Result<StorageItem> read_storage_item(const YamlReader& r, const YAML::Node& node) {
  MOS_TRY(r.check_mapping(node, "storage item", {"label", "persistent", "nsgroup", "size"}));
  if (!node["label"]) return r.error(node, "storage item needs a label");
  if (!node["size"])
    return r.error(node, "storage item needs a size (MiB, or with a unit such as 30G)");
  StorageItem s;
  MOS_TRY_ASSIGN(s.label, r.string(node["label"], "storage label"));
  if (node["persistent"]) {
    MOS_TRY_ASSIGN(s.persistent, r.boolean(node["persistent"], "persistent"));
  }
  if (node["nsgroup"]) {
    MOS_TRY_ASSIGN(s.nsgroup, r.string(node["nsgroup"], "nsgroup"));
  }
  MOS_TRY_ASSIGN(auto size_text, r.string(node["size"], "size"));
  auto size = parse_size_mib(size_text);
  if (!size) return r.error(node["size"], "{}", size.error().message);
  s.size_mib = *size;
  return s;
}

// yaml-cpp accepts a quoted scalar that is never closed and makes it run to the end of the file,
// swallowing every key after it; the error then names a missing key at line 1. A quote that
// opens a scalar must close before the end of the text.
Status check_quotes_closed(const YamlReader& r, const YAML::Node& node, std::string_view text) {
  if (node.IsScalar()) {
    const auto mark = node.Mark();
    if (mark.is_null() || mark.pos < 0) return {};
    const char quote = unclosed_quote_at(text, static_cast<std::size_t>(mark.pos));
    if (quote == 0) return {};
    return r.error(node, "this {} string is never closed: it runs to the end of the file",
                   quote == '"' ? "double-quoted" : "single-quoted");
  }
  if (node.IsMap()) {
    for (const auto& item : node) {
      MOS_TRY(check_quotes_closed(r, item.first, text));
      MOS_TRY(check_quotes_closed(r, item.second, text));
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) MOS_TRY(check_quotes_closed(r, item, text));
  }
  return {};
}

}  // namespace

Result<Manifest> parse_manifest_yaml(std::string_view text, std::string_view file_name) {
  YamlReader r(file_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return fail("{}:{}:{}: not valid YAML: {}", file_name, e.mark.line + 1, e.mark.column + 1,
                e.msg);
  }
  if (!root || root.IsNull()) return fail("{}: the manifest is empty", file_name);
  MOS_TRY(check_quotes_closed(r, root, text));
  MOS_TRY(r.check_mapping(root, "the manifest",
                          {"version", "product", "update_type", "storage", "targets"}));
  for (auto required : {"version", "product", "update_type", "targets"})
    if (!root[required]) return r.error(root, "the manifest is missing \"{}\"", required);
  Manifest m;
  MOS_TRY_ASSIGN(auto version, r.integer(root["version"], "version"));
  if (version != 1) return r.error(root["version"], "version must be 1, not {}", version);
  MOS_TRY_ASSIGN(m.product, r.string(root["product"], "product"));
  MOS_TRY_ASSIGN(m.update_type, parse_enum(r, root["update_type"], "update_type", kUpdateTypes));
  if (root["storage"]) {
    MOS_TRY_ASSIGN(auto items, r.sequence(root["storage"], "storage"));
    for (const auto& item : items) {
      MOS_TRY_ASSIGN(auto s, read_storage_item(r, item));
      m.storage.push_back(std::move(s));
    }
  }
  MOS_TRY_ASSIGN(auto targets, r.sequence(root["targets"], "targets"));
  for (const auto& node : targets) {
    MOS_TRY_ASSIGN(auto t, read_target(r, node));
    m.targets.push_back(std::move(t));
  }
  // Semantic errors point at the target (or the whole file) they concern.
  for (std::size_t i = 0; i < m.targets.size(); ++i) {
    Manifest single = m;
    single.targets = {m.targets[i]};
    if (auto ok = validate_manifest(single, "target"); !ok) {
      return r.error(targets[i], "{}", ok.error().message);
    }
  }
  if (auto ok = validate_manifest(m, "manifest"); !ok)
    return fail("{}: {}", file_name, ok.error().message);
  return m;
}

Result<Manifest> read_manifest_yaml(const std::string& path) {
  MOS_TRY_ASSIGN(auto text, read_file(path, 1024 * 1024));
  return parse_manifest_yaml(text, path);
}

}  // namespace mos::manifest
