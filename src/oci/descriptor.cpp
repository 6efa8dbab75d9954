#include "oci/descriptor.hpp"

#include "oci/media_types.hpp"

namespace mos::oci {

namespace {

Result<Annotations> parse_annotations(const Json& object, std::string_view where) {
  Annotations out;
  auto it = object.find("annotations");
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_object())
    return fail("{}: \"annotations\" must be an object of strings, not {}", where, it->type_name());
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string())
      return fail("{}: annotation \"{}\" must be a string, not {}", where, key, value.type_name());
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

Result<int> parse_schema_version(const Json& doc, std::string_view where) {
  MOS_TRY_ASSIGN(auto version, json_int(doc, "schemaVersion", where));
  if (version != 2) return fail("{}: schemaVersion must be 2, not {}", where, version);
  return 2;
}

Result<std::optional<Descriptor>> parse_subject(const Json& doc, std::string_view where) {
  auto it = doc.find("subject");
  if (it == doc.end() || it->is_null()) return std::optional<Descriptor>{};
  MOS_TRY_ASSIGN(auto subject, parse_descriptor(*it, fmt::format("{} subject", where)));
  return std::optional<Descriptor>{std::move(subject)};
}

Result<Json> parse_object(std::string_view bytes, std::string_view what) {
  MOS_TRY_ASSIGN(auto doc, parse_json_strict(bytes, what, {.max_bytes = kMaxManifestBytes}));
  if (!doc.is_object()) return fail("{} must be a JSON object, not {}", what, doc.type_name());
  return doc;
}

void put_annotations(OrderedJson& out, const Annotations& annotations) {
  if (annotations.empty()) return;
  OrderedJson a = OrderedJson::object();
  for (const auto& [k, v] : annotations) a[k] = v;
  out["annotations"] = std::move(a);
}

}  // namespace

Result<Descriptor> parse_descriptor(const Json& value, std::string_view where) {
  if (!value.is_object()) return fail("{} must be an object, not {}", where, value.type_name());
  Descriptor d;
  MOS_TRY_ASSIGN(d.media_type, json_string(value, "mediaType", where));
  MOS_TRY_ASSIGN(auto digest_text, json_string(value, "digest", where));
  auto digest = Digest::parse(digest_text);
  if (!digest) return context(where, digest.error());
  d.digest = *digest;
  MOS_TRY_ASSIGN(d.size, json_int(value, "size", where));
  if (d.size < 0) return fail("{}: size must not be negative", where);
  if (auto it = value.find("urls"); it != value.end() && !it->is_null()) {
    if (!it->is_array()) return fail("{}: \"urls\" must be an array of strings", where);
    for (const auto& url : *it) {
      if (!url.is_string()) return fail("{}: \"urls\" must be an array of strings", where);
      d.urls.push_back(url.get<std::string>());
    }
  }
  MOS_TRY_ASSIGN(d.annotations, parse_annotations(value, where));
  MOS_TRY_ASSIGN(d.data, json_optional_string(value, "data", where));
  if (auto it = value.find("platform"); it != value.end() && !it->is_null()) {
    if (!it->is_object()) return fail("{}: \"platform\" must be an object", where);
    d.platform = *it;
  }
  MOS_TRY_ASSIGN(d.artifact_type, json_optional_string(value, "artifactType", where));
  return d;
}

Result<ImageManifest> parse_image_manifest(std::string_view bytes) {
  constexpr std::string_view where = "image manifest";
  MOS_TRY_ASSIGN(auto doc, parse_object(bytes, where));
  ImageManifest m;
  MOS_TRY_ASSIGN(m.schema_version, parse_schema_version(doc, where));
  MOS_TRY_ASSIGN(m.media_type, json_optional_string(doc, "mediaType", where));
  if (m.media_type && !media_type::is_manifest(*m.media_type))
    return fail("{}: mediaType \"{}\" is not an image manifest type ({} or {})", where,
                *m.media_type, media_type::kImageManifest, media_type::kDockerManifest);
  MOS_TRY_ASSIGN(m.artifact_type, json_optional_string(doc, "artifactType", where));
  auto config = doc.find("config");
  if (config == doc.end()) return fail("{}: missing \"config\"", where);
  MOS_TRY_ASSIGN(m.config, parse_descriptor(*config, "image manifest config"));
  auto layers = doc.find("layers");
  if (layers == doc.end()) return fail("{}: missing \"layers\"", where);
  if (!layers->is_array())
    return fail("{}: \"layers\" must be an array, not {}", where, layers->type_name());
  for (std::size_t i = 0; i < layers->size(); ++i) {
    MOS_TRY_ASSIGN(auto layer,
                   parse_descriptor((*layers)[i], fmt::format("image manifest layers[{}]", i)));
    m.layers.push_back(std::move(layer));
  }
  MOS_TRY_ASSIGN(m.subject, parse_subject(doc, where));
  MOS_TRY_ASSIGN(m.annotations, parse_annotations(doc, where));
  return m;
}

Result<ImageIndex> parse_image_index(std::string_view bytes) {
  constexpr std::string_view where = "image index";
  MOS_TRY_ASSIGN(auto doc, parse_object(bytes, where));
  ImageIndex index;
  MOS_TRY_ASSIGN(index.schema_version, parse_schema_version(doc, where));
  MOS_TRY_ASSIGN(index.media_type, json_optional_string(doc, "mediaType", where));
  if (index.media_type && !media_type::is_index(*index.media_type))
    return fail("{}: mediaType \"{}\" is not an image index type ({} or {})", where,
                *index.media_type, media_type::kImageIndex, media_type::kDockerManifestList);
  MOS_TRY_ASSIGN(index.artifact_type, json_optional_string(doc, "artifactType", where));
  auto manifests = doc.find("manifests");
  if (manifests == doc.end()) return fail("{}: missing \"manifests\"", where);
  if (manifests->is_null()) return index;  // Go writes a nil list as null
  if (!manifests->is_array())
    return fail("{}: \"manifests\" must be an array, not {}", where, manifests->type_name());
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    MOS_TRY_ASSIGN(auto d,
                   parse_descriptor((*manifests)[i], fmt::format("image index manifests[{}]", i)));
    index.manifests.push_back(std::move(d));
  }
  MOS_TRY_ASSIGN(index.subject, parse_subject(doc, where));
  MOS_TRY_ASSIGN(index.annotations, parse_annotations(doc, where));
  return index;
}

OrderedJson descriptor_json(const Descriptor& d) {
  OrderedJson out = OrderedJson::object();
  out["mediaType"] = d.media_type;
  out["digest"] = d.digest.str();
  out["size"] = d.size;
  if (!d.urls.empty()) out["urls"] = d.urls;
  put_annotations(out, d.annotations);
  if (d.data) out["data"] = *d.data;
  if (d.platform) out["platform"] = OrderedJson::parse(d.platform->dump());
  if (d.artifact_type) out["artifactType"] = *d.artifact_type;
  return out;
}

std::string encode_compact(const OrderedJson& value) {
  // Invalid UTF-8 (say, from a malformed request echoed in an error) is replaced, never thrown.
  std::string text = value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  // These characters only occur inside strings, so replacing them keeps the JSON valid and
  // matches Go's encoding/json byte for byte.
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string encode_manifest(const ImageManifest& m) {
  OrderedJson out = OrderedJson::object();
  out["schemaVersion"] = m.schema_version;
  if (m.media_type) out["mediaType"] = *m.media_type;
  if (m.artifact_type) out["artifactType"] = *m.artifact_type;
  out["config"] = descriptor_json(m.config);
  OrderedJson layers = OrderedJson::array();
  for (const auto& l : m.layers) layers.push_back(descriptor_json(l));
  out["layers"] = std::move(layers);
  if (m.subject) out["subject"] = descriptor_json(*m.subject);
  put_annotations(out, m.annotations);
  return encode_compact(out);
}

std::string encode_index(const ImageIndex& index) {
  OrderedJson out = OrderedJson::object();
  out["schemaVersion"] = index.schema_version;
  if (index.media_type) out["mediaType"] = *index.media_type;
  if (index.artifact_type) out["artifactType"] = *index.artifact_type;
  OrderedJson manifests = OrderedJson::array();
  for (const auto& d : index.manifests) manifests.push_back(descriptor_json(d));
  out["manifests"] = std::move(manifests);
  if (index.subject) out["subject"] = descriptor_json(*index.subject);
  put_annotations(out, index.annotations);
  return encode_compact(out);
}

Descriptor empty_descriptor() {
  Descriptor d;
  d.media_type = std::string(media_type::kEmpty);
  d.digest = *Digest::parse(kEmptyJsonDigest);
  d.size = 2;
  d.data = "e30=";
  return d;
}

}  // namespace mos::oci
