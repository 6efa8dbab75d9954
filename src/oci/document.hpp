#pragma once
// A manifest or index exactly as stored or sent: its bytes, their digest and its media type.
// Nothing re-encodes a Document, so its digest is always the digest of the bytes on the wire.
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "oci/descriptor.hpp"

namespace mos::oci {

struct Document {
  std::string media_type;
  std::string bytes;
  Digest digest = digest_of("");

  bool is_index() const;
  // A descriptor of this document (media type, digest, size).
  Descriptor descriptor() const;
};

// Validates bytes as an image manifest or index. The media type comes from the document's own
// mediaType field, else from content_type (an HTTP Content-Type or a descriptor's media type),
// else from its shape; a contradiction between them is an error.
Result<Document> make_document(std::string bytes, std::string_view content_type = {});

// The descriptor a referrers list holds for a manifest: artifactType (the manifest's, else its
// config media type) and the manifest's annotations.
Result<Descriptor> referrer_descriptor(const Document& doc);

}  // namespace mos::oci
