#pragma once
// IPv4 addresses of the services on a machine's `simple` network: a bridge on one subnet
// (default 10.0.3.0/24, the gateway its first address). A service takes the address its manifest
// names, else the one it had before, else one derived from its name, so that its address stays
// the same across reboots, updates and rollbacks (the original picked one per process and lost
// it; design: runtime state outside manifest.git remembers what was handed out).
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

struct AddressRequest {
  std::string service;
  std::string ipv4;  // as the manifest writes it ("" for none)
};

// Addresses for every request: the manifest's own (inside the subnet, neither its network,
// gateway nor broadcast address, each used once — refused otherwise, naming both services), then
// for the rest what `remembered` holds when it is still free and inside the subnet, then one
// derived from the service name (a hash, probing upward past taken ones). Deterministic: the
// same requests and memory give the same answer.
Result<std::map<std::string, std::uint32_t>> assign_addresses(
    const Ipv4Subnet& subnet, const std::vector<AddressRequest>& requests,
    const std::map<std::string, std::uint32_t>& remembered);

}  // namespace mos::runtime
