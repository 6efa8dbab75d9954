// machine.yaml: a strict reader over yaml-cpp (every mapping walked by hand, so unknown,
// misspelt and duplicate keys and wrong types are errors at file:line:column), the machine types'
// templates and go-humanize sizes. The writer is machine_yaml_writer.cpp, the checks of a
// definition's values definition_checks.cpp.
#include "machine/machine_definition.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>
#include <set>
#include <span>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "core/text.hpp"

namespace mos::machine {

namespace {

using Keys = std::span<const std::string_view>;
constexpr std::string_view kTopKeys[] = {"name",      "type",   "description",
                                         "ephemeral", "status", "config"};
constexpr std::string_view kConfigKeys[] = {
    "name",      "cpus",      "memory", "serial",      "nics",        "disks", "boot",      "cdrom",
    "uefi-code", "uefi-vars", "tpm",    "tpm-version", "secure-boot", "gui",   "cloud-init"};
constexpr std::string_view kCloudInitKeys[] = {"user-data", "meta-data", "network-config"};
constexpr std::string_view kNicKeys[] = {"id",        "device",  "mac",   "network",  "addr",
                                         "bootindex", "romfile", "ports", "guestfwds"};
constexpr std::string_view kForwardKeys[] = {"protocol", "host", "guest"};
constexpr std::string_view kEndpointKeys[] = {"address", "port"};
constexpr std::string_view kDiskKeys[] = {"file",      "format", "size",      "attach",   "type",
                                          "bootindex", "addr",   "blocksize", "read-only"};

// Optimal string alignment distance (an edit, or two neighbours swapped, costs 1).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string suggestion(std::string_view key, Keys allowed) {
  if (key.size() <= 40) {
    std::string_view best;
    std::size_t best_distance = key.size() <= 4 ? 2 : 3;
    for (auto a : allowed) {
      std::size_t d = edit_distance(to_lower_ascii(key), a);
      if (d < best_distance) best = a, best_distance = d;
    }
    if (!best.empty()) return fmt::format(" (did you mean '{}'?)", best);
  }
  return fmt::format(" (known keys: {})", fmt::join(allowed, ", "));
}

// One key: value pair of a mapping, with the dotted path that names it in messages.
struct Field {
  YAML::Node key;
  YAML::Node value;
  std::string name;
  std::string path;
  // Where a message about the value points: an empty value has no place of its own.
  const YAML::Node& at() const { return value.IsNull() ? key : value; }
};

class Reader {
 public:
  Reader(std::string_view text, std::string_view file) : text_(text), file_(file) {}

  template <class... Args>
  std::unexpected<Error> error(const YAML::Node& node, fmt::format_string<Args...> format,
                               Args&&... args) const {
    std::string message = fmt::format(format, std::forward<Args>(args)...);
    const auto mark = node.Mark();
    if (mark.is_null()) return fail("{}: {}", file_, message);
    return fail("{}:{}:{}: {}", file_, mark.line + 1, mark.column + 1, message);
  }

  // yaml-cpp lets a quote that never closes run to the end of the text, swallowing every key
  // after it: a quoted scalar must close.
  Status check_closed(const YAML::Node& node) const {
    const auto mark = node.Mark();
    if (mark.is_null() || mark.pos < 0) return {};
    if (unclosed_quote_at(text_, static_cast<std::size_t>(mark.pos)) == 0) return {};
    return error(node, "this quoted string is never closed: it runs to the end of the file");
  }

  // Calls visit(field) for each pair of a mapping, after checking its key.
  template <class Visit>
  Status each_key(const YAML::Node& node, const YAML::Node& at, std::string_view path, Keys allowed,
                  Visit&& visit) const {
    const std::string where = path.empty() ? "the machine definition" : std::string(path);
    if (!node.IsMap()) return error(at, "{} must be a mapping", where);
    std::set<std::string> seen;
    for (const auto& item : node) {
      if (!item.first.IsScalar()) return error(item.first, "a key of {} is not a string", where);
      MOS_TRY(check_closed(item.first));
      const std::string& key = item.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        return error(item.first, "unknown key '{}' in {}{}", key, where, suggestion(key, allowed));
      if (!seen.insert(key).second)
        return error(item.first, "duplicate key '{}' in {}", key, where);
      Field field{item.first, item.second, key,
                  path.empty() ? key : fmt::format("{}.{}", path, key)};
      MOS_TRY(visit(field));
    }
    return {};
  }

  // A string field takes any scalar as its text (yaml.v2 did: `serial: true` is "true").
  Status set(const Field& f, std::string& out) const {
    if (f.value.IsNull()) return out.clear(), Status{};
    if (!f.value.IsScalar()) return error(f.at(), "{} must be a string", f.path);
    MOS_TRY(check_closed(f.value));
    out = f.value.Scalar();
    return {};
  }

  Status set(const Field& f, bool& out) const {
    if (f.value.IsNull()) return out = false, Status{};
    if (f.value.IsScalar() && f.value.Tag() != "!") {
      // YAML 1.1's booleans, as yaml.v2 read them.
      static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                                   "on",   "On",   "ON",   "y",   "Y"};
      static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No", "NO",
                                                    "off",   "Off",   "OFF",   "n",  "N"};
      const std::string& t = f.value.Scalar();
      if (std::find(std::begin(kTrue), std::end(kTrue), t) != std::end(kTrue))
        return out = true, Status{};
      if (std::find(std::begin(kFalse), std::end(kFalse), t) != std::end(kFalse))
        return out = false, Status{};
    }
    return error(f.at(), "{} must be true or false", f.path);
  }

  Result<std::uint64_t> number(const Field& f, std::uint64_t max) const {
    if (f.value.IsNull()) return 0;
    const auto& v = f.value;
    if (!v.IsScalar()) return error(f.at(), "{} must be a number", f.path);
    const std::string& text = v.Scalar();
    if (v.Tag() == "!") return error(v, "{} must be a number, not the string \"{}\"", f.path, text);
    std::string_view digits(text);
    if (digits.starts_with('+')) digits.remove_prefix(1);
    if (auto value = parse_unsigned(digits, max)) return *value;
    auto all_digits = [](std::string_view t) {
      return !t.empty() && std::all_of(t.begin(), t.end(), is_ascii_digit);
    };
    if (digits.starts_with('-') && all_digits(digits.substr(1)))
      return error(v, "{} must not be negative ({})", f.path, text);
    if (!all_digits(digits))
      return error(v, "{} must be a non-negative whole number, not '{}'", f.path, text);
    return error(v, "{}: {} is too large (at most {})", f.path, text, max);
  }

  template <class T>
  Status set(const Field& f, T& out) const
    requires(std::is_unsigned_v<T> && !std::is_same_v<T, bool>)
  {
    MOS_TRY_ASSIGN(out, number(f, std::numeric_limits<T>::max()));
    return {};
  }

  Status set(const Field& f, std::optional<int>& out) const {
    if (f.value.IsNull()) return out.reset(), Status{};
    MOS_TRY_ASSIGN(auto value, number(f, std::numeric_limits<int>::max()));
    out = static_cast<int>(value);
    return {};
  }

  // A list replaces the whole list; each item starts from T's defaults.
  template <class T, class Item>
  Status set_list(const Field& f, std::vector<T>& out, Item&& read_item) const {
    out.clear();
    if (f.value.IsNull()) return {};
    if (!f.value.IsSequence()) return error(f.at(), "{} must be a list", f.path);
    for (const auto& node : f.value) {
      std::string path = fmt::format("{}[{}]", f.path, out.size());
      if (node.IsNull()) return error(f.value, "{} is empty", path);
      T item{};
      MOS_TRY(read_item(node, path, item));
      out.push_back(std::move(item));
    }
    return {};
  }

 private:
  std::string_view text_;
  std::string file_;
};

Status read_endpoint(const Reader& r, const Field& f, Endpoint& e) {
  if (f.value.IsNull()) return e = {}, Status{};
  return r.each_key(f.value, f.at(), f.path, kEndpointKeys, [&](const Field& g) -> Status {
    if (g.name == "address") return r.set(g, e.address);
    MOS_TRY_ASSIGN(auto port, r.number(g, std::numeric_limits<std::uint64_t>::max()));
    if (port > 65535) return r.error(g.at(), "{}: {} is not a port (1..65535)", g.path, port);
    e.port = static_cast<std::uint16_t>(port);
    return Status{};
  });
}

Status read_forward(const Reader& r, const YAML::Node& node, const std::string& path,
                    PortForward& p) {
  return r.each_key(node, node, path, kForwardKeys, [&](const Field& f) {
    if (f.name == "protocol") return r.set(f, p.protocol);
    return read_endpoint(r, f, f.name == "host" ? p.host : p.guest);
  });
}

Status read_nic(const Reader& r, const YAML::Node& node, const std::string& path, Nic& n) {
  return r.each_key(node, node, path, kNicKeys, [&](const Field& f) -> Status {
    const auto& k = f.name;
    if (k == "id") return r.set(f, n.id);
    if (k == "device") return r.set(f, n.device);
    if (k == "mac") return r.set(f, n.mac);
    if (k == "network") return r.set(f, n.network);
    if (k == "addr") return r.set(f, n.addr);
    if (k == "bootindex") return r.set(f, n.bootindex);
    if (k == "romfile") return r.set(f, n.romfile);
    auto read = [&](const YAML::Node& item, const std::string& p, PortForward& fw) {
      return read_forward(r, item, p, fw);
    };
    return r.set_list(f, k == "ports" ? n.ports : n.guestfwds, read);
  });
}

Status read_disk(const Reader& r, const YAML::Node& node, const std::string& path, Disk& d) {
  return r.each_key(node, node, path, kDiskKeys, [&](const Field& f) -> Status {
    const auto& k = f.name;
    if (k == "file") return r.set(f, d.file);
    if (k == "format") return r.set(f, d.format);
    if (k == "attach") return r.set(f, d.attach);
    if (k == "type") return r.set(f, d.type);
    if (k == "bootindex") return r.set(f, d.bootindex);
    if (k == "addr") return r.set(f, d.addr);
    if (k == "blocksize") return r.set(f, d.blocksize);
    if (k == "read-only") return r.set(f, d.read_only);
    std::string text;  // size: a number of bytes or a go-humanize size
    if (f.value.IsNull()) return d.size = 0, Status{};
    MOS_TRY(r.set(f, text));
    auto size = parse_size(text);
    if (!size) return r.error(f.at(), "{}: {}", f.path, size.error().message);
    d.size = *size;
    return {};
  });
}

Status read_config(const Reader& r, const Field& field, MachineConfig& c, bool& name_given) {
  if (field.value.IsNull()) return c = {}, Status{};
  return r.each_key(
      field.value, field.at(), field.path, kConfigKeys, [&](const Field& f) -> Status {
        const auto& k = f.name;
        if (k == "name") return name_given = true, r.set(f, c.name);
        if (k == "cpus") return r.set(f, c.cpus);
        if (k == "memory") return r.set(f, c.memory);
        if (k == "serial") return r.set(f, c.serial);
        if (k == "nics")
          return r.set_list(f, c.nics, [&](auto&... a) { return read_nic(r, a...); });
        if (k == "disks")
          return r.set_list(f, c.disks, [&](auto&... a) { return read_disk(r, a...); });
        if (k == "boot") return r.set(f, c.boot);
        if (k == "cdrom") return r.set(f, c.cdrom);
        if (k == "uefi-code") return r.set(f, c.uefi_code);
        if (k == "uefi-vars") return r.set(f, c.uefi_vars);
        if (k == "tpm") return r.set(f, c.tpm);
        if (k == "tpm-version") return r.set(f, c.tpm_version);
        if (k == "secure-boot") return r.set(f, c.secure_boot);
        if (k == "gui") return r.set(f, c.gui);
        auto& ci = c.cloud_init;  // cloud-init
        if (f.value.IsNull()) return ci = {}, Status{};
        return r.each_key(f.value, f.at(), f.path, kCloudInitKeys, [&](const Field& g) {
          if (g.name == "user-data") return r.set(g, ci.user_data);
          if (g.name == "meta-data") return r.set(g, ci.meta_data);
          return r.set(g, ci.network_config);
        });
      });
}

// What a document holds beyond an empty value (yaml-cpp's LoadAll can loop forever on some broken
// texts, handing out the same document again: documents are looked at one by one, twice at most).
struct SecondDocument : YAML::EventHandler {
  std::optional<YAML::Mark> content;
  void note(const YAML::Mark& mark) {
    if (!content) content = mark;
  }
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    note(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnMapEnd() override {}
};

Result<MachineDefinition> parse_document(std::string_view text, std::string_view file,
                                         MachineDefinition d) {
  Reader r(text, file);
  const YAML::Node root = YAML::Load(std::string(text));
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  SecondDocument first, second;
  if (parser.HandleNextDocument(first) && parser.HandleNextDocument(second) && second.content) {
    const YAML::Mark& m = *second.content;
    return fail("{}:{}:{}: a machine definition is one YAML document, not several", file,
                m.line + 1, m.column + 1);
  }
  if (root.IsNull()) return d;
  bool name_given = false;
  bool config_name_given = false;
  MOS_TRY(r.each_key(root, root, "", kTopKeys, [&](const Field& f) -> Status {
    if (f.name == "name") return name_given = true, r.set(f, d.name);
    if (f.name == "description") return r.set(f, d.description);
    if (f.name == "ephemeral") return r.set(f, d.ephemeral);
    if (f.name == "status") return {};  // what `machine info` printed: output only
    if (f.name == "config") return read_config(r, f, d.config, config_name_given);
    MOS_TRY(r.set(f, d.type));
    if (d.type != "kvm") return r.error(f.at(), "type must be kvm, not '{}'", d.type);
    return {};
  }));
  if (name_given && !config_name_given) d.config.name = d.name;
  if (config_name_given && !name_given) d.name = d.config.name;
  return d;
}

}  // namespace

Result<MachineDefinition> machine_type_template(std::string_view type, std::string_view name) {
  if (type != "1.0" && type != "1.0-insecure")
    return fail("unknown machine type '{}' (known types: 1.0, 1.0-insecure)", type);
  MachineDefinition d;
  d.name = std::string(name);
  auto& c = d.config;
  c.name = d.name;
  c.cpus = 2;
  c.memory = 2048;
  c.tpm = true;
  c.tpm_version = "2.0";
  c.secure_boot = type == "1.0";
  c.gui = true;
  Disk disk;
  disk.file = "rootdisk.qcow2";
  disk.size = 50ULL << 30;
  disk.attach = "virtio";
  disk.format = "qcow2";
  disk.bootindex = "0";
  c.disks.push_back(disk);
  if (type == "1.0-insecure") {
    Nic nic;
    nic.id = "nic0";
    nic.device = "virtio-net";
    nic.network = "user";
    c.nics.push_back(nic);
  }
  return d;
}

Result<MachineDefinition> parse_machine_yaml(std::string_view text, std::string_view file,
                                             MachineDefinition base) {
  try {
    return parse_document(text, file, std::move(base));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return fail("{}: not valid YAML: {}", file, e.msg);
    return fail("{}:{}:{}: not valid YAML: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg);
  } catch (const std::exception& e) {
    return fail("{}: not valid YAML: {}", file, e.what());
  }
}

Result<std::uint64_t> parse_size(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  std::string_view s = text;
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  // go-humanize: digits (',' between them ignored), an optional fraction, then a unit.
  unsigned __int128 whole = 0, fraction = 0, scale = 1;
  std::size_t i = 0, digits = 0;
  bool point = false;
  const auto too_large = [&] { return fail("size '{}' is too large", text); };
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == ',' && !point && digits > 0) continue;
    if (c == '.' && !point) {
      point = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ++digits;
    if (!point) {
      whole = whole * 10 + static_cast<unsigned>(c - '0');
      if (whole > std::numeric_limits<std::uint64_t>::max()) return too_large();
    } else if (scale < static_cast<unsigned __int128>(1'000'000'000'000'000'000ULL)) {
      fraction = fraction * 10 + static_cast<unsigned>(c - '0');
      scale *= 10;
    }
  }
  if (digits == 0)
    return fail("size '{}' is not a size (a number of bytes, or with a unit: 50GiB, 100G)", text);
  while (i < s.size() && is_space(s[i])) ++i;
  std::string unit = to_lower_ascii(s.substr(i));
  static constexpr std::string_view kUnits = "kmgtpe";
  const std::size_t power = unit.empty() ? std::string_view::npos : kUnits.find(unit[0]);
  const std::string_view suffix = unit.empty() ? "" : std::string_view(unit).substr(1);
  unsigned __int128 multiplier = 1;
  if (power != std::string_view::npos &&
      (suffix.empty() || suffix == "b" || suffix == "i" || suffix == "ib")) {
    for (std::size_t k = 0; k <= power; ++k) multiplier *= suffix.starts_with('i') ? 1024 : 1000;
  } else if (!unit.empty() && unit != "b") {
    return fail(
        "size '{}': unknown unit '{}' (k, M, G, T, P, E for powers of 1000; "
        "Ki, Mi, Gi, Ti, Pi, Ei for powers of 1024; B optional)",
        text, s.substr(i));
  }
  unsigned __int128 bytes = whole * multiplier + fraction * multiplier / scale;
  if (bytes > std::numeric_limits<std::uint64_t>::max()) return too_large();
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace mos::machine
