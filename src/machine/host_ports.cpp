#include "machine/host_ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <functional>

#include "core/file.hpp"
#include "core/unique_fd.hpp"

namespace mos::machine {
namespace {

// Binds the address as qemu's slirp will (SO_REUSEADDR, so a port in TIME_WAIT is not "in use").
Status try_bind(const HostPort& port) {
  bool v6 = port.address.find(':') != std::string::npos;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET,
                       (port.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket: {}", errno_message(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int bound = -1;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port.port);
    if (::inet_pton(AF_INET6, port.address.c_str(), &a.sin6_addr) != 1)
      return fail("{} is not an IPv6 address", port.address);
    bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port.port);
    if (::inet_pton(AF_INET, port.address.c_str(), &a.sin_addr) != 1)
      return fail("{} is not an IPv4 address", port.address);
    bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (bound != 0) return fail("{}", errno_message(errno));
  return {};
}

}  // namespace

std::vector<HostPort> host_ports(const MachineDefinition& definition) {
  std::vector<HostPort> ports;
  for (const auto& nic : definition.config.nics)
    for (const auto& forward : nic.ports)
      ports.push_back({forward.protocol.empty() ? "tcp" : forward.protocol,
                       forward.host.address.empty() ? "127.0.0.1" : forward.host.address,
                       forward.host.port});
  return ports;
}

std::string describe(const HostPort& port) {
  return fmt::format("{}:{}/{}", port.address, port.port, port.protocol);
}

Status check_host_ports(const MachineDefinition& definition,
                        const std::function<std::string(const HostPort&)>& owner_of) {
  for (const auto& port : host_ports(definition)) {
    if (auto bound = try_bind(port); !bound) {
      auto owner = owner_of(port);
      return fail("host port {} of machine {} cannot be used: {}{}", describe(port),
                  definition.config.name, bound.error().message,
                  owner.empty() ? std::string() : fmt::format(" (machine {} forwards it)", owner));
    }
  }
  return {};
}

}  // namespace mos::machine
