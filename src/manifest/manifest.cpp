#include "manifest/manifest.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "oci/reference.hpp"

namespace mos::manifest {

std::string_view to_string(ServiceType t) {
  switch (t) {
    case ServiceType::hostfs:
      return "hostfs";
    case ServiceType::container:
      return "container";
    case ServiceType::fs_only:
      return "fs-only";
  }
  return "?";
}

std::string_view to_string(NetworkType t) {
  switch (t) {
    case NetworkType::host:
      return "host";
    case NetworkType::none:
      return "none";
    case NetworkType::simple:
      return "simple";
  }
  return "?";
}

std::string_view to_string(UpdateType t) {
  return t == UpdateType::complete ? "complete" : "partial";
}

const Target* Manifest::find_target(std::string_view name) const {
  for (const auto& t : targets)
    if (t.service_name == name) return &t;
  return nullptr;
}

namespace {

bool matches(std::string_view s, std::size_t max, bool allow_upper, std::string_view extra) {
  if (s.empty() || s.size() > max) return false;
  auto ok = [&](char c, bool first) {
    if (c >= 'a' && c <= 'z') return true;
    if (c >= '0' && c <= '9') return true;
    if (allow_upper && c >= 'A' && c <= 'Z') return true;
    return !first && extra.find(c) != std::string_view::npos;
  };
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!ok(s[i], i == 0)) return false;
  return true;
}

bool has_control_or_space(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

Status check_address(std::string_view text, int family, std::string_view what) {
  std::string address(text);
  int max_prefix = family == AF_INET ? 32 : 128;
  if (auto slash = address.find('/'); slash != std::string::npos) {
    std::string_view prefix = std::string_view(address).substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), value);
    if (ec != std::errc() || end != prefix.data() + prefix.size() || value < 0 ||
        value > max_prefix)
      return fail("{} \"{}\" has an invalid prefix length (0-{})", what, text, max_prefix);
    address.resize(slash);
  }
  unsigned char buffer[16];
  if (inet_pton(family, address.c_str(), buffer) != 1)
    return fail("{} \"{}\" is not a valid {} address", what, text,
                family == AF_INET ? "IPv4" : "IPv6");
  return {};
}

Status check_network(const Target& t) {
  const auto& n = t.network;
  if (n.type != NetworkType::simple) {
    if (!n.ipv4.empty() || !n.ipv6.empty() || !n.ports.empty())
      return fail("service {}: addresses and ports need network type simple, not {}",
                  t.service_name, to_string(n.type));
    return {};
  }
  if (t.service_type != ServiceType::container)
    return fail("service {}: network type simple needs service_type container", t.service_name);
  if (!n.ipv4.empty())
    MOS_TRY(check_address(n.ipv4, AF_INET, fmt::format("service {}: ipv4", t.service_name)));
  if (!n.ipv6.empty())
    MOS_TRY(check_address(n.ipv6, AF_INET6, fmt::format("service {}: ipv6", t.service_name)));
  for (const auto& p : n.ports)
    if (p.host < 1 || p.host > 65535 || p.container < 1 || p.container > 65535)
      return fail("service {}: port {}:{} is outside 1-65535", t.service_name, p.host, p.container);
  return {};
}

Status check_storage(const Manifest& m) {
  std::set<std::string_view> labels;
  for (const auto& s : m.storage) {
    if (!matches(s.label, 64, false, "_-"))
      return fail("storage label \"{}\" must be lowercase letters, digits, '-' or '_'", s.label);
    for (auto reserved : kReservedLabels)
      if (s.label == reserved)
        return fail(
            "storage label \"{}\" is reserved for the system (esp, machine-config, "
            "machine-store, machine-scratch)",
            s.label);
    if (!labels.insert(s.label).second)
      return fail("storage label \"{}\" is declared twice", s.label);
    if (s.size_mib == 0) return fail("storage {}: size must be at least 1 MiB", s.label);
  }
  for (const auto& t : m.targets) {
    std::set<std::string_view> dests;
    for (const auto& ts : t.storage) {
      if (!labels.contains(ts.label))
        return fail(
            "service {}: storage label \"{}\" is not declared in the manifest's storage list",
            t.service_name, ts.label);
      if (!ts.dest.starts_with('/') || ts.dest.find("/../") != std::string::npos ||
          ts.dest.ends_with("/..") || has_control_or_space(ts.dest))
        return fail("service {}: storage dest \"{}\" must be an absolute path without '..'",
                    t.service_name, ts.dest);
      if (!dests.insert(ts.dest).second)
        return fail("service {}: storage dest \"{}\" is used twice", t.service_name, ts.dest);
    }
  }
  return {};
}

}  // namespace

Status validate_manifest(const Manifest& m, std::string_view where) {
  (void)where;
  if (m.version != 1) return fail("version must be 1, not {}", m.version);
  if (m.product.empty() || has_control_or_space(m.product))
    return fail("product must be a non-empty name without spaces");
  if (m.targets.empty()) return fail("the manifest has no targets");
  std::set<std::string_view> names;
  std::map<int, std::string_view> host_ports;
  std::map<std::string, std::string_view> addresses;  // without the prefix length
  int hostfs_count = 0;
  for (const auto& t : m.targets) {
    if (!matches(t.service_name, 64, true, "_.-"))
      return fail(
          "service_name \"{}\" must start with a letter or digit and use only letters, "
          "digits, '.', '_' and '-' (at most 64)",
          t.service_name);
    if (!names.insert(t.service_name).second)
      return fail("service_name \"{}\" is used by two targets", t.service_name);
    if (t.version.empty() || has_control_or_space(t.version))
      return fail("service {}: version must be non-empty without spaces", t.service_name);
    if (!t.source.empty()) {
      if (auto ref = oci::Reference::parse(t.source); !ref)
        return fail("service {}: source: {}", t.service_name, ref.error().message);
    }
    if (!t.nsgroup.empty() && t.nsgroup != "none" && !matches(t.nsgroup, 32, false, "_-"))
      return fail(
          "service {}: nsgroup \"{}\" must be lowercase letters, digits, '-' or '_' (or none)",
          t.service_name, t.nsgroup);
    if (t.service_type == ServiceType::hostfs) ++hostfs_count;
    MOS_TRY(check_network(t));
    for (const auto& p : t.network.ports) {
      auto [it, fresh] = host_ports.emplace(p.host, t.service_name);
      if (!fresh)
        return fail("host port {} is used by both {} and {}", p.host, it->second, t.service_name);
    }
    for (const auto& address : {t.network.ipv4, t.network.ipv6}) {
      if (address.empty()) continue;
      auto [it, fresh] = addresses.emplace(address.substr(0, address.find('/')), t.service_name);
      if (!fresh)
        return fail("address {} is given to both {} and {}", it->first, it->second, t.service_name);
    }
  }
  if (hostfs_count > 1) return fail("only one target may have service_type hostfs");
  return check_storage(m);
}

Result<std::uint64_t> parse_size_mib(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data())
    return fail("size \"{}\" must be a number of MiB or a number with a unit (M, G, T)", text);
  std::string_view unit(end, text.data() + text.size() - end);
  std::uint64_t factor;
  if (unit.empty() || unit == "M" || unit == "MiB" || unit == "MB")
    factor = 1;
  else if (unit == "G" || unit == "GiB" || unit == "GB")
    factor = 1024;
  else if (unit == "T" || unit == "TiB" || unit == "TB")
    factor = 1024 * 1024;
  else
    return fail("size \"{}\" has an unknown unit \"{}\" (M, G or T)", text, unit);
  if (value == 0) return fail("size \"{}\" must be at least 1 MiB", text);
  if (value > (std::uint64_t{1} << 40) / factor) return fail("size \"{}\" is too large", text);
  return value * factor;
}

}  // namespace mos::manifest
