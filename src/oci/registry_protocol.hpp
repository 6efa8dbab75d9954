#pragma once
// Parsers for what registries put in headers and error bodies, and the referrers tag schema.
// Pure functions over untrusted text (fuzzed in tests/fuzz): WWW-Authenticate challenges
// (RFC 7235), Link headers (RFC 8288, rel="next" pagination) and {"errors":[...]} bodies.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "oci/descriptor.hpp"
#include "oci/document.hpp"

namespace mos::oci {

struct AuthChallenge {
  std::string scheme;                         // lower-cased: "basic", "bearer"
  std::map<std::string, std::string> params;  // names lower-cased: realm, service, scope, ...
};

// All challenges of one WWW-Authenticate header value ("Bearer realm=\"…\",scope=\"…\", Basic
// realm=\"…\""). Malformed text is an error, never a crash.
Result<std::vector<AuthChallenge>> parse_www_authenticate(std::string_view header);

// The target of the rel="next" link among Link header values, if any.
Result<std::optional<std::string>> parse_next_link(std::string_view header);

// A readable one-line description of a registry error answer: "MANIFEST_UNKNOWN: manifest
// unknown (detail)" for OCI error bodies; the first line of other bodies; else "HTTP <status>".
std::string describe_registry_error(long status, std::string_view body);

// The referrers tag schema: the tag "sha256-<hex>" naming the index of a subject's referrers.
std::string referrers_tag(const Digest& subject);

// Adds `entry` to a tag-schema index (its bytes, or nullopt when the tag does not exist yet) and
// returns the new index bytes; nullopt when the entry (same digest) is already listed. Other
// entries and fields are kept as they are.
Result<std::optional<std::string>> add_to_referrers_index(
    const std::optional<std::string>& index_bytes, const Descriptor& entry);

// Entries of a referrers list of the given artifactType (all when no type is given).
std::vector<Descriptor> filter_referrers(std::vector<Descriptor> list,
                                         const std::optional<std::string>& artifact_type);

}  // namespace mos::oci
