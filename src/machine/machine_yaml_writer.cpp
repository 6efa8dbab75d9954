// machine_yaml: a definition written as yaml.v2 writes it (the original's `machine info`), with
// its layout, key order and quoting, so that reading it back gives the same definition.
#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "core/text.hpp"
#include "machine/machine_definition.hpp"

namespace mos::machine {
namespace {

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

// Characters no plain or single-quoted scalar may hold: controls, DEL, and the Unicode line
// breaks and byte order mark (NEL, LS, PS, BOM).
bool has_special(std::string_view s, bool newline_ok) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && !(newline_ok && c == '\n')) || c == 0x7F) return true;
    std::string_view rest = s.substr(i);
    if (rest.starts_with("\xC2\x85") || rest.starts_with("\xE2\x80\xA8") ||
        rest.starts_with("\xE2\x80\xA9") || rest.starts_with("\xEF\xBB\xBF"))
      return true;
  }
  return !valid_utf8(s);
}

// What a plain scalar would read as something other than this string (yaml.v2 then quotes it
// with double quotes): empty, null, a YAML 1.1 boolean, something like a number or a date.
bool reads_as_other(std::string_view s) {
  static constexpr std::string_view kWords[] = {"~",  "null", "y",     "yes",   "n",
                                                "no", "true", "false", "on",    "off",
                                                "<<", ".inf", "+.inf", "-.inf", ".nan"};
  if (s.empty() ||
      std::find(std::begin(kWords), std::end(kWords), to_lower_ascii(s)) != std::end(kWords))
    return true;
  std::string v;  // ints, floats, base-60 floats and dates (yyyy-m-d...), underscores ignored
  for (char c : s.substr(s[0] == '+' || s[0] == '-' ? 1 : 0))
    if (c != '_') v += c;
  std::size_t i = 0;
  auto skip = [&](bool (*ok)(char)) {
    const std::size_t from = i;
    while (i < v.size() && ok(v[i])) ++i;
    return i > from;
  };
  if (v.size() > 2 && v[0] == '0' && std::string_view("xXoObB").find(v[1]) != std::string::npos)
    return i = 2, skip(is_ascii_hex) && i == v.size();
  const bool whole = skip(is_ascii_digit);
  if (whole && i == 4 && i + 1 < v.size() && v[i] == '-' && is_ascii_digit(v[i + 1])) return true;
  while (whole && i + 1 < v.size() && v[i] == ':' && is_ascii_digit(v[i + 1]))
    ++i, skip(is_ascii_digit);
  bool fraction = false;
  if (i < v.size() && v[i] == '.') ++i, fraction = skip(is_ascii_digit);
  if (!whole && !fraction) return false;
  if (i + 1 < v.size() && (v[i] | 0x20) == 'e') {
    i += v[i + 1] == '+' || v[i + 1] == '-' ? 2 : 1;
    if (!skip(is_ascii_digit)) return false;
  }
  return i == v.size();
}

bool plain_ok(std::string_view s) {
  if (s.front() == ' ' || s.back() == ' ' || s.back() == ':' || s.starts_with("---") ||
      s.starts_with("..."))
    return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos)
    return false;
  return s.find(": ") == std::string_view::npos && s.find(" #") == std::string_view::npos;
}

// A literal block (`|`, `|-`) for multi-line text that it holds exactly.
bool literal_ok(std::string_view s) {
  return s.find('\n') != std::string_view::npos && s.front() != ' ' && s.front() != '\n' &&
         s.back() != ' ' && !s.ends_with("\n\n") && s.find(" \n") == std::string_view::npos &&
         !has_special(s, true);
}

std::string double_quoted(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    std::string_view rest = s.substr(i);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02X}", c);  // (bytes of invalid UTF-8 pass through yaml-cpp)
    } else if (rest.starts_with("\xC2\x85")) {
      out += "\\u0085", ++i;
    } else if (rest.starts_with("\xE2\x80\xA8") || rest.starts_with("\xE2\x80\xA9") ||
               rest.starts_with("\xEF\xBB\xBF")) {
      out += rest[0] == '\xEF' ? "\\uFEFF" : rest[2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

// The text after "key: " for a string value, as yaml.v2 writes it; `indent` is the key's.
std::string scalar(std::string_view s, int indent) {
  if (literal_ok(s)) {
    std::string out = s.ends_with('\n') ? "|" : "|-";
    std::string_view body = s.ends_with('\n') ? s.substr(0, s.size() - 1) : s;
    for (std::size_t start = 0; start <= body.size();) {
      std::size_t end = std::min(body.find('\n', start), body.size());
      out += '\n';
      if (end > start)
        out.append(static_cast<std::size_t>(indent + 2), ' ')
            .append(body.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }
  if (has_special(s, false) || reads_as_other(s)) return double_quoted(s);
  if (plain_ok(s)) return std::string(s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  out += '\'';
  return out;
}

class Writer {
 public:
  std::string text;

  void item() { dash_ = true; }  // the next key starts a list item
  void key(int indent, std::string_view k) {
    text.append(static_cast<std::size_t>(dash_ ? indent - 2 : indent), ' ');
    text.append(dash_ ? "- " : "").append(k).append(":");
    dash_ = false;
  }
  void open(int indent, std::string_view k) { key(indent, k), text += '\n'; }
  void str(int indent, std::string_view k, std::string_view v) {
    key(indent, k);
    text += fmt::format(" {}\n", scalar(v, indent));
  }
  void num(int indent, std::string_view k, std::uint64_t v) {
    key(indent, k);
    text += fmt::format(" {}\n", v);
  }
  void flag(int indent, std::string_view k, bool v) {
    key(indent, k);
    text += v ? " true\n" : " false\n";
  }
  void forwards(int indent, std::string_view k, const std::vector<PortForward>& list) {
    if (list.empty()) return;
    open(indent, k);
    for (const auto& p : list) {
      item();
      str(indent + 2, "protocol", p.protocol);
      for (auto [name, e] : {std::pair{"host", &p.host}, std::pair{"guest", &p.guest}}) {
        open(indent + 2, name);
        str(indent + 4, "address", e->address);
        num(indent + 4, "port", e->port);
      }
    }
  }

 private:
  bool dash_ = false;
};

}  // namespace

std::string machine_yaml(const MachineDefinition& d, std::string_view status) {
  Writer w;
  const auto& c = d.config;
  w.str(0, "type", d.type);
  w.open(0, "config");
  w.str(2, "name", c.name);
  w.num(2, "cpus", c.cpus);
  w.num(2, "memory", c.memory);
  w.str(2, "serial", c.serial);
  if (c.nics.empty()) w.text += "  nics: []\n";
  if (!c.nics.empty()) w.open(2, "nics");
  for (const auto& n : c.nics) {
    w.item();
    w.str(4, "id", n.id);
    w.str(4, "device", n.device);
    if (!n.mac.empty()) w.str(4, "mac", n.mac);
    w.str(4, "network", n.network);
    if (n.addr) w.num(4, "addr", static_cast<std::uint64_t>(*n.addr));
    if (!n.bootindex.empty()) w.str(4, "bootindex", n.bootindex);
    if (!n.romfile.empty()) w.str(4, "romfile", n.romfile);
    w.forwards(4, "ports", n.ports);
    w.forwards(4, "guestfwds", n.guestfwds);
  }
  if (c.disks.empty()) w.text += "  disks: []\n";
  if (!c.disks.empty()) w.open(2, "disks");
  for (const auto& k : c.disks) {
    w.item();
    w.str(4, "file", k.file);
    w.num(4, "size", k.size);
    for (auto [name, value] : {std::pair{"format", &k.format}, std::pair{"attach", &k.attach},
                               std::pair{"type", &k.type}, std::pair{"bootindex", &k.bootindex}})
      if (!value->empty()) w.str(4, name, *value);
    if (k.addr) w.num(4, "addr", static_cast<std::uint64_t>(*k.addr));
    if (k.blocksize != 0) w.num(4, "blocksize", k.blocksize);
    if (k.read_only) w.flag(4, "read-only", true);
  }
  w.str(2, "boot", c.boot);
  w.str(2, "cdrom", c.cdrom);
  w.str(2, "uefi-code", c.uefi_code);
  w.str(2, "uefi-vars", c.uefi_vars);
  w.flag(2, "tpm", c.tpm);
  w.str(2, "tpm-version", c.tpm_version);
  w.flag(2, "secure-boot", c.secure_boot);
  w.flag(2, "gui", c.gui);
  if (!c.cloud_init.empty()) {
    w.open(2, "cloud-init");
    const auto& ci = c.cloud_init;
    if (!ci.user_data.empty()) w.str(4, "user-data", ci.user_data);
    if (!ci.meta_data.empty()) w.str(4, "meta-data", ci.meta_data);
    if (!ci.network_config.empty()) w.str(4, "network-config", ci.network_config);
  }
  w.str(0, "description", d.description);
  w.flag(0, "ephemeral", d.ephemeral);
  w.str(0, "name", d.name);
  if (!status.empty()) w.str(0, "status", status);
  return w.text;
}

}  // namespace mos::machine
