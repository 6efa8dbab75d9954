#pragma once
// The machine manifest: what manifest.yaml says (mosb's input) and what install.json says (the
// signed document a machine installs). Both share one model; install.json drops `source` and
// pins every target to the digest and size of its image manifest.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "oci/digest.hpp"

namespace mos::manifest {

enum class ServiceType { hostfs, container, fs_only };
enum class NetworkType { host, none, simple };
enum class UpdateType { complete, partial };

std::string_view to_string(ServiceType t);
std::string_view to_string(NetworkType t);
std::string_view to_string(UpdateType t);

struct Port {
  int host = 0;
  int container = 0;
  friend bool operator==(const Port&, const Port&) = default;
};

struct Network {
  NetworkType type = NetworkType::host;
  std::string ipv4;  // address with optional /prefix, "" for none
  std::string ipv6;
  std::vector<Port> ports;
  friend bool operator==(const Network&, const Network&) = default;
};

struct TargetStorage {
  std::string dest;
  std::string label;
  friend bool operator==(const TargetStorage&, const TargetStorage&) = default;
};

struct StorageItem {
  std::string label;
  bool persistent = false;
  std::string nsgroup;
  std::uint64_t size_mib = 0;
  friend bool operator==(const StorageItem&, const StorageItem&) = default;
};

struct Target {
  std::string service_name;
  std::string source;  // manifest.yaml only
  std::string version;
  ServiceType service_type = ServiceType::container;
  std::string nsgroup;
  Network network;
  std::vector<TargetStorage> storage;
  std::optional<oci::Digest> digest;  // of the image manifest
  std::optional<std::int64_t> size;   // of the image manifest
  friend bool operator==(const Target&, const Target&) = default;
};

struct Manifest {
  int version = 1;
  std::string product;
  UpdateType update_type = UpdateType::complete;
  std::vector<StorageItem> storage;
  std::vector<Target> targets;
  friend bool operator==(const Manifest&, const Manifest&) = default;

  const Target* find_target(std::string_view name) const;
};

// Storage labels the system itself uses for its partitions.
inline constexpr std::string_view kReservedLabels[] = {"esp", "machine-config", "machine-store",
                                                       "machine-scratch"};

// Parses manifest.yaml strictly; errors read "FILE:LINE:COLUMN: what is wrong (allowed: ...)".
Result<Manifest> parse_manifest_yaml(std::string_view text, std::string_view file_name);
Result<Manifest> read_manifest_yaml(const std::string& path);

// Checks what both documents must satisfy: names, types, addresses, ports, storage labels,
// duplicates. `where` prefixes messages.
Status validate_manifest(const Manifest& manifest, std::string_view where);

// Parses a size as manifest.yaml writes it: plain MiB ("1024") or with a unit ("30G", "512MiB").
Result<std::uint64_t> parse_size_mib(std::string_view text);

// install.json: compact, Go field order, `source` dropped, empty storage lists omitted (the
// walkthrough's bytes); every target must carry digest and size.
Result<std::string> encode_install_json(const Manifest& manifest);
// Parses install.json strictly (duplicate keys, wrong types, unknown keys are errors) and validates
// it.
Result<Manifest> parse_install_json(std::string_view bytes);

// Largest install.json accepted (a machine has a handful of targets; this is generous).
inline constexpr std::size_t kMaxInstallJsonBytes = 1024 * 1024;

}  // namespace mos::manifest
