#pragma once
// The distribution-spec endpoints: a request line (method, target) parsed into the route it
// names, with the repository name and reference split out and the query decoded. Pure parsing,
// no I/O, so it is fuzzed (tests/fuzz/registry_route_fuzzer.cpp).
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mos::registry {

enum class Endpoint {
  base,          // /v2/
  catalog,       // /v2/_catalog
  tags,          // /v2/<name>/tags/list
  manifest,      // /v2/<name>/manifests/<reference>
  blob,          // /v2/<name>/blobs/<digest>
  upload_start,  // /v2/<name>/blobs/uploads/
  upload,        // /v2/<name>/blobs/uploads/<id>
  referrers,     // /v2/<name>/referrers/<digest>
  unknown,
};

struct Query {
  std::vector<std::pair<std::string, std::string>> params;  // decoded, in order
  std::optional<std::string> get(std::string_view key) const;
  std::vector<std::string> all(std::string_view key) const;
};

struct Route {
  Endpoint endpoint = Endpoint::unknown;
  std::string name;       // repository name, not yet validated against the grammar
  std::string reference;  // tag, digest or upload id, not yet validated
  Query query;
};

// Splits "path?query" and recognises the endpoint. Never fails: unrecognised paths give
// Endpoint::unknown (answered 404).
Route parse_route(std::string_view target);

// Percent-decoding of one query component ('+' stays '+': media types contain it).
std::string percent_decode(std::string_view text);
std::string percent_encode(std::string_view text);

// Upload ids are the ones this server makes: 32 lowercase hex digits.
bool is_valid_upload_id(std::string_view id);

}  // namespace mos::registry
