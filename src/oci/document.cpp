#include "oci/document.hpp"

#include "oci/media_types.hpp"

namespace mos::oci {

bool Document::is_index() const {
  return media_type::is_index(media_type);
}

Descriptor Document::descriptor() const {
  Descriptor d;
  d.media_type = media_type;
  d.digest = digest;
  d.size = static_cast<std::int64_t>(bytes.size());
  return d;
}

Result<Document> make_document(std::string bytes, std::string_view content_type) {
  MOS_TRY_ASSIGN(auto json, parse_json_strict(bytes, "manifest", {.max_bytes = kMaxManifestBytes}));
  if (!json.is_object()) return fail("manifest must be a JSON object, not {}", json.type_name());
  std::string type;
  if (auto it = json.find("mediaType"); it != json.end()) {
    if (!it->is_string()) return fail("manifest: \"mediaType\" must be a string");
    type = it->get<std::string>();
    // Docker's registry answers "application/json"-ish types for some documents; only a real
    // manifest or index type can contradict.
    bool known_content_type =
        media_type::is_manifest(content_type) || media_type::is_index(content_type);
    if (!content_type.empty() && known_content_type && content_type != type)
      return fail("manifest declares mediaType {} but was served as {}", type, content_type);
  } else if (media_type::is_manifest(content_type) || media_type::is_index(content_type)) {
    type = std::string(content_type);
  } else if (json.contains("manifests")) {
    type = std::string(media_type::kImageIndex);
  } else if (json.contains("config")) {
    type = std::string(media_type::kImageManifest);
  } else {
    return fail("document is neither an image manifest nor an image index");
  }
  if (media_type::is_manifest(type)) {
    MOS_TRY(parse_image_manifest(bytes));
  } else if (media_type::is_index(type)) {
    MOS_TRY(parse_image_index(bytes));
  } else {
    return fail("unsupported manifest media type \"{}\"", type);
  }
  Document doc;
  doc.media_type = std::move(type);
  doc.digest = digest_of(bytes);
  doc.bytes = std::move(bytes);
  return doc;
}

Result<Descriptor> referrer_descriptor(const Document& doc) {
  Descriptor d = doc.descriptor();
  if (doc.is_index()) {
    MOS_TRY_ASSIGN(auto index, parse_image_index(doc.bytes));
    d.artifact_type = index.artifact_type;
    d.annotations = index.annotations;
  } else {
    MOS_TRY_ASSIGN(auto manifest, parse_image_manifest(doc.bytes));
    d.artifact_type = manifest.artifact_type ? manifest.artifact_type : manifest.config.media_type;
    d.annotations = manifest.annotations;
  }
  return d;
}

}  // namespace mos::oci
