#pragma once
// The bridge of the `simple` network: one Linux bridge holding the subnet's gateway address,
// to which LXC attaches each service's veth itself (lxc.net.0.link), so no veth is made here.
// Bringing it up also turns on what the port forwards need (see port_forwards.hpp): IPv4
// forwarding, and route_localnet on the bridge so that connections to 127.0.0.1 that nftables
// DNATs to a service may leave through it (the kernel drops them as martians otherwise).
// Tearing it down deletes the bridge and puts ip_forward back as it was.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "runtime/address_plan.hpp"

namespace mos::runtime {

struct BridgeSpec {
  std::string name = "mosbr0";
  Ipv4Subnet subnet{};
  // Where the ip_forward value found before us is kept (e.g. RUN/ip_forward), so that a boot
  // restarted after a crash restores the machine's own value rather than the 1 it left behind.
  // Empty: remembered in memory only.
  std::filesystem::path saved_ip_forward{};
  // The same for net.ipv6.conf.all.forwarding, which enable_bridge_ipv6 turns on.
  std::filesystem::path saved_ipv6_forwarding{};
};

// What bring_up_bridge changed and tear_down_bridge puts back.
struct BridgeUp {
  // net.ipv4.ip_forward as found ("0", "1"); "": what spec.saved_ip_forward holds, if anything
  std::string ip_forward_before;
  // net.ipv6.conf.all.forwarding as found; "" when enable_bridge_ipv6 did not run
  std::string ipv6_forwarding_before;
};

// Linux interface names: 1-15 characters (IFNAMSIZ less its NUL); we also keep to
// [A-Za-z0-9._-] and no leading '-', since the name reaches ip's command line and /proc paths.
Status check_interface_name(std::string_view name);

// Creates the bridge (STP off, no forward delay: a service's port forwards at once), or adopts
// one of that name left by a crash (its addresses flushed; any other kind of interface of that
// name is refused), gives it the subnet's gateway with the subnet's prefix, sets it up, and
// writes net.ipv4.ip_forward=1 and net.ipv4.conf.NAME.route_localnet=1. On failure whatever it
// did is undone.
Result<BridgeUp> bring_up_bridge(const BridgeSpec& spec);

// For services with IPv6 addresses: gives the bridge the IPv6 subnet's gateway (::1, without
// duplicate address detection) and turns IPv6 forwarding on (net.ipv6.conf.all.forwarding: the
// kernel has no per-interface switch for it; a machine that takes its own IPv6 address from
// router advertisements then needs accept_ra=2 on that interface, as on any router).
Status enable_bridge_ipv6(const BridgeSpec& spec, const Ipv6Subnet& subnet6, BridgeUp& up);

// Deletes interface NAME when there is one (a service's veth: container_teardown.hpp).
Status delete_interface(const std::string& name);

// Deletes the bridge (none is no error, so a boot can clean up after a crash) and restores
// ip_forward as `up` says (an empty `up` after a crash: as spec.saved_ip_forward says), and IPv6
// forwarding likewise when it was turned on; removes the saved values.
Status tear_down_bridge(const BridgeSpec& spec, const BridgeUp& up);

}  // namespace mos::runtime
