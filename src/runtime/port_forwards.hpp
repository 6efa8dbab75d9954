#pragma once
// The machine's netfilter rules for its services, in nftables tables of our own ("ip mos", and
// "ip6 mos" when a service has an IPv6 address), replaced as a whole and removed on stop, so no
// rule of ours outlives `mosctl boot` and no rule of anybody else's is touched:
//   - each `ports` entry {host, container} of a `simple` service forwards TCP to the machine's
//     port `host` (any local address) to the service's address and port `container`: in
//     prerouting for other hosts, in output for the machine itself (127.0.0.1 included, which
//     needs route_localnet on the bridge, see enable_forwarding);
//   - traffic from the services' subnet to elsewhere is masqueraded (outbound NAT), and so is
//     traffic the machine itself forwarded to a service from a loopback address;
//   - the same in IPv6 for a service with an IPv6 address, except from ::1: IPv6 has no
//     route_localnet, so the kernel never routes a packet from ::1 off the machine (the
//     machine's own connections reach a forward through any of its other addresses).
// The original added iptables PREROUTING rules per service (TCP, from the default-route NIC
// only) and removed them one by one; a crash left them behind.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "runtime/address_plan.hpp"

namespace mos::runtime {

inline constexpr std::string_view kNftTable = "mos";

struct PortForward {
  std::string service;
  std::uint16_t host_port = 0;
  std::uint32_t address = 0;  // the service's
  std::uint16_t container_port = 0;
  std::optional<Ipv6Address> address6;  // the service's, when it has one: forwarded in IPv6 too
  friend bool operator==(const PortForward&, const PortForward&) = default;
};

struct NetworkRules {
  Ipv4Subnet subnet;
  std::vector<PortForward> forwards;
  std::optional<Ipv6Subnet> subnet6;  // set when a service has an IPv6 address
};

// Refuses two forwards of one host port (naming both services) and ports outside 1-65535.
Status check_forwards(const std::vector<PortForward>& forwards);

// The nft script that replaces our table with these rules in one transaction.
std::string nft_ruleset(const NetworkRules& rules);

// Runs an nft script through libnftables and returns what it printed; the error names nft's own
// complaint.
Result<std::string> run_nft(std::string_view script);

// Our table as nft lists it; fails when there is none.
Result<std::string> list_rules();

// Installs the rules (atomically replacing any earlier table of ours).
Status install_rules(const NetworkRules& rules);

// Removes our table; no table is no error.
Status remove_rules();

}  // namespace mos::runtime
