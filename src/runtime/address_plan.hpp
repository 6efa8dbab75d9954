#pragma once
// Addresses of the services on a machine's `simple` network: a bridge on one IPv4 subnet
// (default 10.0.3.0/24, the gateway its first address) and, for services whose manifest names an
// IPv6 address, one IPv6 subnet (default fd6d:6f73:3::/64, a unique local prefix; gateway ::1). A
// service takes the address its manifest names, else the one it had before, else one derived from
// its name, so that its address stays the same across reboots, updates and rollbacks (the original
// picked one per process and lost it; design: runtime state outside manifest.git remembers what was
// handed out).
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::runtime {

struct Ipv4Subnet {
  std::uint32_t network = 0;  // host byte order, host bits zero
  int prefix = 24;

  // "10.0.3.0/24"; host bits must be zero; prefixes 8-30 (a bridge needs room for services).
  static Result<Ipv4Subnet> parse(std::string_view text);
  bool contains(std::uint32_t address) const;
  std::uint32_t gateway() const { return network + 1; }
  std::uint32_t broadcast() const;
  std::string str() const;
};

inline constexpr std::string_view kDefaultSubnet = "10.0.3.0/24";

// "10.0.3.7"
std::string format_ipv4(std::uint32_t address);
// "10.0.3.7" or "10.0.3.7/24" (the prefix, when given, must be the subnet's); host byte order.
Result<std::uint32_t> parse_ipv4(std::string_view text);

struct Ipv6Address {
  std::array<std::uint8_t, 16> bytes{};
  friend auto operator<=>(const Ipv6Address&, const Ipv6Address&) = default;
};

struct Ipv6Subnet {
  Ipv6Address network;  // host bits zero
  int prefix = 64;

  // "fd6d:6f73:3::/64"; host bits must be zero; prefixes 48-120.
  static Result<Ipv6Subnet> parse(std::string_view text);
  bool contains(const Ipv6Address& address) const;
  Ipv6Address gateway() const;  // the network's ::1
  std::string str() const;
};

inline constexpr std::string_view kDefaultSubnet6 = "fd6d:6f73:3::/64";

// "fd6d:6f73:3::5" (RFC 5952's canonical text)
std::string format_ipv6(const Ipv6Address& address);
// "fd6d:6f73:3::5" or "fd6d:6f73:3::5/64"
Result<Ipv6Address> parse_ipv6(std::string_view text);

struct AddressRequest {
  std::string service;
  std::string ipv4;  // as the manifest writes it ("" for none)
  std::string ipv6;  // likewise
};

// Addresses for every request: the manifest's own (inside the subnet, neither its network,
// gateway nor broadcast address, each used once — refused otherwise, naming both services), then
// for the rest what `remembered` holds when it is still free and inside the subnet, then one
// derived from the service name (a hash, probing upward past taken ones). Deterministic: the
// same requests and memory give the same answer.
Result<std::map<std::string, std::uint32_t>> assign_addresses(
    const Ipv4Subnet& subnet, const std::vector<AddressRequest>& requests,
    const std::map<std::string, std::uint32_t>& remembered);

// The IPv6 addresses the manifest names (a service that names none has none): inside the subnet,
// neither its network nor its gateway address, each used once, a /prefix only the subnet's.
Result<std::map<std::string, Ipv6Address>> assign_ipv6_addresses(
    const Ipv6Subnet& subnet, const std::vector<AddressRequest>& requests);

}  // namespace mos::runtime
