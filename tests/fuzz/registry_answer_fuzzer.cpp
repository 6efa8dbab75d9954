// libFuzzer target: registry answers parsed by the client: error bodies, token answers, and
// tag-schema referrers indexes being extended.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "oci/media_types.hpp"
#include "oci/registry_auth.hpp"
#include "oci/registry_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto message = mos::oci::describe_registry_error(404, text);
  if (message.empty() || message.find('\n') != std::string::npos) __builtin_trap();  // one line
  (void)mos::oci::parse_token_response(text, std::chrono::steady_clock::now());
  mos::oci::Descriptor entry;
  entry.media_type = std::string(mos::oci::media_type::kImageManifest);
  entry.digest = mos::oci::digest_of("referrer");
  entry.size = 8;
  entry.artifact_type = "application/vnd.machine.signature";
  auto updated = mos::oci::add_to_referrers_index(text, entry);
  if (updated && *updated) {
    // The result is a valid index listing the entry, and adding it again changes nothing.
    auto index = mos::oci::parse_image_index(**updated);
    if (!index) __builtin_trap();
    auto again = mos::oci::add_to_referrers_index(**updated, entry);
    if (!again || *again) __builtin_trap();
  }
  return 0;
}
