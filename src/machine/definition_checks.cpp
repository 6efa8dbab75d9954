// validate_definition: what a parsed machine.yaml must also satisfy before qemu sees it.
#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/text.hpp"
#include "machine/machine_definition.hpp"

namespace mos::machine {

namespace {

Status one_of(std::string_view path, std::string_view value,
              std::initializer_list<std::string_view> allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return {};
  return fail("{}: '{}' is not one of: {}", path, value, fmt::join(allowed, ", "));
}

Status check_name(std::string_view path, std::string_view name) {
  auto ok = [](char c, bool first) {
    return is_ascii_alpha(c) || is_ascii_digit(c) || (!first && (c == '.' || c == '_' || c == '-'));
  };
  bool good = !name.empty() && name.size() <= 32;
  for (std::size_t i = 0; good && i < name.size(); ++i) good = ok(name[i], i == 0);
  if (!good)
    return fail(
        "{}: '{}' is not a machine name (1 to 32 letters, digits, '.', '_', '-', "
        "starting with a letter or digit)",
        path, name);
  return {};
}

bool is_ipv4(const std::string& address) {
  in_addr parsed{};
  return inet_pton(AF_INET, address.c_str(), &parsed) == 1;
}

// The boot indices claimed so far (disks and NICs share qemu's one order).
struct BootOrder {
  std::vector<std::pair<std::uint64_t, std::string>> claimed;
  Status claim(const std::string& path, std::string_view index) {
    if (index.empty() || index == "off") return {};
    auto value = parse_unsigned(index, 999'999'999);
    if (!value)
      return fail("{}.bootindex: '{}' is not \"off\" or a boot index (0, 1, ...)", path, index);
    for (const auto& [other, who] : claimed)
      if (other == *value)
        return fail("{}.bootindex: {} is already the boot index of {}", path, *value, who);
    claimed.emplace_back(*value, path);
    return {};
  }
};

Status check_forwards(const std::string& path, const std::vector<PortForward>& list, bool guestfwd,
                      std::vector<std::pair<std::string, std::string>>& used) {
  for (std::size_t j = 0; j < list.size(); ++j) {
    const auto& p = list[j];
    const std::string at = fmt::format("{}[{}]", path, j);
    if (guestfwd && p.protocol != "tcp")
      return fail("{}.protocol: '{}' cannot be forwarded from the guest (only tcp)", at,
                  p.protocol);
    MOS_TRY(one_of(fmt::format("{}.protocol", at), p.protocol, {"tcp", "udp"}));
    for (auto [side, e] : {std::pair{"host", &p.host}, std::pair{"guest", &p.guest}}) {
      if (e->port == 0) return fail("{}.{}.port: 0 is not a port (1..65535)", at, side);
      if (!e->address.empty() && !is_ipv4(e->address))
        return fail("{}.{}.address: '{}' is not an IPv4 address", at, side, e->address);
    }
    // What is listened on: the host side of a port, the guest side of a guestfwd.
    const Endpoint& e = guestfwd ? p.guest : p.host;
    const std::string address = e.address.empty() && !guestfwd ? "127.0.0.1" : e.address;
    const std::string key = fmt::format("{}|{}:{}/{}", guestfwd, address, e.port, p.protocol);
    for (const auto& [other, who] : used)
      if (other == key)
        return fail("{}.{}: {}:{}/{} is already forwarded by {}", at, guestfwd ? "guest" : "host",
                    address, e.port, p.protocol, who);
    used.emplace_back(key, at);
  }
  return {};
}

}  // namespace

Status validate_definition(const MachineDefinition& d) {
  MOS_TRY(check_name("name", d.name));
  MOS_TRY(check_name("config.name", d.config.name));
  if (d.name != d.config.name)
    return fail("name '{}' and config.name '{}' differ", d.name, d.config.name);
  if (d.type != "kvm") return fail("type: '{}' is not a machine type (kvm)", d.type);
  const auto& c = d.config;
  if (c.cpus > 256) return fail("config.cpus: {} is more than 256", c.cpus);
  MOS_TRY(one_of("config.boot", c.boot, {"", "hdd", "cdrom"}));
  if (c.boot == "cdrom" && c.cdrom.empty())
    return fail("config.boot: cdrom needs a config.cdrom to boot from");
  MOS_TRY(one_of("config.tpm-version", c.tpm_version, {"", "1.2", "2.0"}));
  BootOrder order;
  std::vector<std::pair<std::string, std::string>> forwards;
  for (std::size_t i = 0; i < c.nics.size(); ++i) {
    const auto& n = c.nics[i];
    const std::string at = fmt::format("config.nics[{}]", i);
    bool good_id = !n.id.empty() && is_ascii_alpha(n.id[0]);
    for (char ch : n.id)
      good_id = good_id &&
                (is_ascii_alpha(ch) || is_ascii_digit(ch) || ch == '-' || ch == '.' || ch == '_');
    if (!good_id)
      return fail("{}.id: '{}' is not a NIC id (a letter, then letters, digits, '-', '.', '_')", at,
                  n.id);
    for (std::size_t j = 0; j < i; ++j)
      if (c.nics[j].id == n.id)
        return fail("{}.id: '{}' is already the id of config.nics[{}]", at, n.id, j);
    MOS_TRY(one_of(fmt::format("{}.device", at), n.device,
                   {"virtio-net", "e1000", "e1000e", "rtl8139"}));
    if (!n.network.empty() && n.network != "user")
      return fail("{}.network: '{}' is not available (only user-mode networking: user)", at,
                  n.network);
    bool good_mac = n.mac.empty() || n.mac.size() == 17;
    for (std::size_t k = 0; good_mac && k < n.mac.size(); ++k)
      good_mac = k % 3 == 2 ? n.mac[k] == ':' : is_ascii_hex(n.mac[k]);
    if (!good_mac) return fail("{}.mac: '{}' is not a MAC address (52:54:00:12:34:56)", at, n.mac);
    if (n.addr && *n.addr > 31) return fail("{}.addr: {} is not a PCI slot (0..31)", at, *n.addr);
    MOS_TRY(order.claim(at, n.bootindex));
    MOS_TRY(check_forwards(fmt::format("{}.ports", at), n.ports, false, forwards));
    MOS_TRY(check_forwards(fmt::format("{}.guestfwds", at), n.guestfwds, true, forwards));
  }
  for (std::size_t i = 0; i < c.disks.size(); ++i) {
    const auto& k = c.disks[i];
    const std::string at = fmt::format("config.disks[{}]", i);
    if (k.file.empty()) return fail("{}.file: a disk needs a file", at);
    for (std::size_t j = 0; j < i; ++j)
      if (c.disks[j].file == k.file)
        return fail("{}.file: '{}' is already the file of config.disks[{}]", at, k.file, j);
    MOS_TRY(one_of(fmt::format("{}.format", at), k.format, {"", "qcow2", "raw"}));
    MOS_TRY(one_of(fmt::format("{}.attach", at), k.attach,
                   {"", "virtio", "scsi", "nvme", "ide", "usb"}));
    MOS_TRY(one_of(fmt::format("{}.type", at), k.type, {"", "ssd", "hdd", "cdrom"}));
    if (k.addr && *k.addr > 31) return fail("{}.addr: {} is not a PCI slot (0..31)", at, *k.addr);
    if (k.blocksize != 0 &&
        (k.blocksize < 512 || k.blocksize > (2U << 20) || (k.blocksize & (k.blocksize - 1)) != 0))
      return fail("{}.blocksize: {} is not a block size (a power of two from 512 to 2097152)", at,
                  k.blocksize);
    MOS_TRY(order.claim(at, k.bootindex));
  }
  return {};
}

}  // namespace mos::machine
