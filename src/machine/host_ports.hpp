#pragma once
// The host ports a VM's NICs forward: each must be free before qemu starts, so a clash is
// reported by name ("127.0.0.1:28080/tcp is forwarded by machine vm1") instead of as qemu's
// "Could not set up host forwarding rule".
#include <functional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "machine/machine_definition.hpp"

namespace mos::machine {

struct HostPort {
  std::string protocol;  // tcp | udp
  std::string address;   // the bound address (127.0.0.1 unless the definition names one)
  std::uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};

std::vector<HostPort> host_ports(const MachineDefinition& definition);
std::string describe(const HostPort& port);

// Fails for the first port that cannot be bound now; `owner_of` names who forwards it, if known.
Status check_host_ports(const MachineDefinition& definition,
                        const std::function<std::string(const HostPort&)>& owner_of);

}  // namespace mos::machine
