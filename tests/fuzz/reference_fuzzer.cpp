// libFuzzer target: image references and digests as users type them.
#include <cstddef>
#include <cstdint>
#include <string>

#include "oci/reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto ref = mos::oci::Reference::parse(text);
  if (ref) {
    auto again = mos::oci::Reference::parse(ref->str());
    if (!again || again->str() != ref->str()) __builtin_trap();  // str() must round-trip
  }
  (void)mos::oci::Digest::parse(text);
  (void)mos::oci::validate_tag_or_digest(text);
  return 0;
}
