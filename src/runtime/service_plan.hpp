#pragma once
// What `mosctl boot` brings up for an installed system: one ServiceSpec per container and fs-only
// target (hostfs and bootkit are the boot chain's, not services), the storage volumes, the
// addresses and port forwards of the simple network. Built from the verified system as a pure
// function of its parts, so that what an update changes is a comparison of two plans.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "image/image_config.hpp"
#include "manifest/manifest.hpp"
#include "oci/digest.hpp"
#include "runtime/address_plan.hpp"
#include "runtime/port_forwards.hpp"
#include "sysroot/system_manifest.hpp"

namespace mos::runtime {

struct ServiceSpec {
  std::string name;
  std::string version;
  oci::Digest digest;  // of the image manifest, as signed
  manifest::ServiceType type = manifest::ServiceType::container;
  std::optional<sysroot::UidRange> ids;  // none: host ids (nsgroup "" or "none")
  manifest::NetworkType network = manifest::NetworkType::host;
  std::optional<std::uint32_t> address;  // simple network only
  std::optional<Ipv6Address> address6;   // simple network, when the manifest names one
  std::vector<PortForward> forwards;
  std::vector<manifest::TargetStorage> storage;
  image::ImageConfigFields config;  // containers only
  friend bool operator==(const ServiceSpec&, const ServiceSpec&) = default;
};

struct VolumeSpec {
  manifest::StorageItem item;
  std::optional<sysroot::UidRange> ids;  // the owner of its root directory
  friend bool operator==(const VolumeSpec&, const VolumeSpec&) = default;
};

struct BootPlan {
  Ipv4Subnet subnet;
  std::optional<Ipv6Subnet> subnet6;  // set when a service has an IPv6 address
  std::vector<ServiceSpec> services;  // in the manifest's order
  std::vector<VolumeSpec> volumes;
  std::map<std::string, std::uint32_t> addresses;  // to remember for the next boot
};

struct SystemParts {
  std::vector<manifest::Target> targets;
  std::vector<manifest::StorageItem> storage;
  std::vector<sysroot::UidRange> uidmaps;
  std::map<std::string, image::ImageConfigFields> configs;  // by service name, containers
};

// The plan, or why the system cannot run: an nsgroup without a uid range, a container without a
// command, addresses or ports that conflict on this machine's network.
Result<BootPlan> plan_boot(const SystemParts& system, const Ipv4Subnet& subnet,
                           const Ipv6Subnet& subnet6,
                           const std::map<std::string, std::uint32_t>& remembered_addresses);

// The services to (re)start when `next` replaces `current`: new ones and those whose spec
// changed (version, digest, ids, network, storage, config); and those to stop: gone or changed.
struct PlanChange {
  std::vector<std::string> stop;
  std::vector<std::string> start;
};
PlanChange compare_plans(const BootPlan& current, const BootPlan& next);

}  // namespace mos::runtime
