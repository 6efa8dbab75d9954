#pragma once
// OCI content descriptors and the image manifest and image index documents: strict parsing
// (wrong types, bad digests and duplicate keys are errors; unknown fields are ignored as the
// image spec requires) and encoding in the Go field order used by the original tools.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "oci/digest.hpp"

namespace mos::oci {

using Annotations = std::map<std::string, std::string>;

struct Descriptor {
  std::string media_type;
  Digest digest = digest_of("");
  std::int64_t size = 0;
  std::vector<std::string> urls;
  Annotations annotations;
  std::optional<std::string> data;  // base64
  std::optional<Json> platform;
  std::optional<std::string> artifact_type;

  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

struct ImageManifest {
  int schema_version = 2;
  std::optional<std::string> media_type;
  std::optional<std::string> artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  Annotations annotations;
};

struct ImageIndex {
  int schema_version = 2;
  std::optional<std::string> media_type;
  std::optional<std::string> artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  Annotations annotations;
};

Result<Descriptor> parse_descriptor(const Json& value, std::string_view where);
Result<ImageManifest> parse_image_manifest(std::string_view bytes);
Result<ImageIndex> parse_image_index(std::string_view bytes);

OrderedJson descriptor_json(const Descriptor& d);
// Compact JSON (no spaces, no newline), fields in Go's order, '<' '>' '&' escaped as Go does.
std::string encode_manifest(const ImageManifest& m);
std::string encode_index(const ImageIndex& i);
std::string encode_compact(const OrderedJson& value);

// The descriptor of the empty JSON blob "{}", with its inline data as the original writes it.
Descriptor empty_descriptor();

}  // namespace mos::oci
