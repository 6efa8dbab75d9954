#pragma once
// The system manifest (config/manifest.git/manifest.json): which signed install manifest each
// installed target and storage volume comes from, and the uid ranges given to nsgroups. It is
// the only unsigned file of the system and holds nothing that can be derived from the signed
// documents: targets and storage are (name, source) pairs resolved against the signed
// install.json each time it is read, and runtime state (ports, addresses, nics, OCI configs)
// is never persisted. Unknown keys are errors, so runtime fields cannot creep back in.
//
//   {"format":1,"product":"<uuid>",
//    "install":{"source":"<sha>.json","reference":"…","created":"2026-…Z"},
//    "targets":[{"name":"hostfs","source":"<sha>.json"}],
//    "storage":[{"label":"data","source":"<sha>.json"}],
//    "uidmaps":[{"nsgroup":"c1","hostid":100000,"size":65536}]}
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::sysroot {

struct SourcedName {
  std::string name;    // service name or storage label
  std::string source;  // "<sha>.json": the install manifest it comes from
  friend bool operator==(const SourcedName&, const SourcedName&) = default;
};

struct UidRange {
  std::string nsgroup;
  std::uint64_t hostid = 0;
  std::uint64_t size = 0;
  friend bool operator==(const UidRange&, const UidRange&) = default;
};

// The install manifest last applied (anti-rollback compares against it).
struct AppliedInstall {
  std::string source;                  // "<sha>.json"
  std::string reference;               // where it came from, for status
  std::optional<std::string> created;  // its org.opencontainers.image.created annotation
  friend bool operator==(const AppliedInstall&, const AppliedInstall&) = default;
};

struct SystemManifest {
  std::string product;
  AppliedInstall install;
  std::vector<SourcedName> targets;
  std::vector<SourcedName> storage;
  std::vector<UidRange> uidmaps;
  friend bool operator==(const SystemManifest&, const SystemManifest&) = default;
};

inline constexpr std::string_view kSystemManifestFile = "manifest.json";
inline constexpr std::size_t kMaxSystemManifestBytes = 1024 * 1024;

// Pretty-printed JSON (a readable git diff), keys in the order above, trailing newline.
std::string encode_system_manifest(const SystemManifest& manifest);
// Strict: unknown or duplicate keys, wrong types, malformed sources and overlapping uid ranges
// are errors.
Result<SystemManifest> parse_system_manifest(std::string_view bytes);

// "<64 hex>.json" names of install manifests; the hex is the sha256 of install.json.
bool is_source_name(std::string_view name);
std::string source_name(std::string_view install_json);

}  // namespace mos::sysroot
