#pragma once
// The orderings anti-rollback relies on: target versions (semantic versions) and the creation
// time of install manifests (RFC 3339 timestamps of the org.opencontainers.image.created
// annotation).
//
// Version ordering (documented in docs/mosctl.md):
//   [v]N(.N)*[-PRERELEASE][+BUILD]
//   - an optional leading "v" is ignored; any number of numeric components, missing ones count
//     as 0 ("1.2" == "1.2.0");
//   - a version with a pre-release is lower than the same version without ("1.0.0-rc.1" <
//     "1.0.0"); pre-release identifiers compare left to right, numeric ones numerically and
//     below alphanumeric ones, which compare in ASCII order; a shorter list of equal
//     identifiers is lower (semver 2.0.0 §11);
//   - build metadata is ignored.
// Anything else does not parse; anti-rollback refuses to order such versions.
#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::sysroot {

struct Version {
  std::vector<std::uint64_t> numbers;
  std::vector<std::string> prerelease;
};

Result<Version> parse_version(std::string_view text);
std::strong_ordering compare_versions(const Version& a, const Version& b);

// Seconds and nanoseconds since the epoch (UTC) of "2026-11-28T09:10:11[.frac](Z|+HH:MM|-HH:MM)".
struct Timestamp {
  std::int64_t seconds = 0;
  std::int32_t nanos = 0;
  friend auto operator<=>(const Timestamp&, const Timestamp&) = default;
};
Result<Timestamp> parse_rfc3339(std::string_view text);

}  // namespace mos::sysroot
