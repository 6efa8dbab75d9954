#pragma once
// trust launch (docs/machine.md, "trust launch"): a machine of a keyset's project made from
// nothing — checks, the machine's SUDI, its VM, the provisioning boot, the install boot — and
// left stopped (or started) ready to boot its installed system. What the original did with
// machined and three tools, in one process that owns every step, with a clean failure: a
// timeout or a failure line on the console stops it with the console's last lines, and what it
// made is removed unless `keep`.
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::machine {

struct PublishedPort {
  int host = 0;   // on the host's 127.0.0.1
  int guest = 0;  // on the machine
  bool operator==(const PublishedPort&) const = default;
};

// The address of the host's loopback as the VM sees it on its user network.
inline constexpr std::string_view kGuestHostAddress = "10.0.2.2";
inline constexpr int kDefaultPortOffset = 28000;

struct LaunchRequest {
  std::string keyset;
  std::string project;
  std::string name;  // the VM
  std::string url;   // the install manifest, as the VM reaches it: 10.0.2.2:PORT/REPO:TAG
  std::vector<PublishedPort> publish;  // overrides for the services' ports
  int port_offset = kDefaultPortOffset;
  bool keep = false;                       // keep what was made when a step fails
  bool start = false;                      // start the machine at the end
  std::chrono::seconds boot_timeout{900};  // per boot, until its success line
  std::function<void(std::string_view)> say = [](std::string_view) {};
};

struct LaunchReport {
  std::string sudi_serial;
  std::vector<PublishedPort> ports;  // forwarded from the host
};

Result<LaunchReport> launch_machine(const LaunchRequest& request);

// The forwards a machine running `manifest_ports` (the host ports its services publish) gets:
// offset + P on the host for each P, unless `publish` names P (as its guest port).
std::vector<PublishedPort> launch_port_forwards(const std::vector<int>& manifest_ports,
                                                const std::vector<PublishedPort>& publish,
                                                int offset);

}  // namespace mos::machine
