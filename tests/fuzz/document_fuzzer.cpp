// libFuzzer target: manifests and indexes as they arrive from registries and layouts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "oci/document.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto doc = mos::oci::make_document(bytes);
  if (doc) {
    (void)mos::oci::referrer_descriptor(*doc);
    if (doc->is_index()) {
      auto index = mos::oci::parse_image_index(doc->bytes);
      if (index) (void)mos::oci::encode_index(*index);
    } else {
      auto manifest = mos::oci::parse_image_manifest(doc->bytes);
      if (manifest) (void)mos::oci::encode_manifest(*manifest);
    }
  }
  (void)mos::parse_json_strict(bytes, "input");
  return 0;
}
