// libFuzzer target: what trust reads from files and registries — certificate and key PEM
// (manifest signers' certificates arrive from registries), signatures, KEYSET:PROJECT references.
#include <cstddef>
#include <cstdint>
#include <string>

#include "trust/certificate.hpp"
#include "trust/keys.hpp"
#include "trust/project.hpp"
#include "trust/signing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto info = mos::trust::certificate_info(text)) {
    // A certificate that parses is checked against itself as CA, and signatures against it.
    (void)mos::trust::verify_certificate(text, text);
    (void)mos::trust::verify_signature(text, text.substr(0, 64), text);
  }
  (void)mos::trust::parse_certificates_pem(text, "input");
  (void)mos::trust::parse_private_key_pem(text, "input");
  (void)mos::trust::parse_public_key_pem(text, "input");
  if (auto ref = mos::trust::ProjectRef::parse(text)) {
    auto again = mos::trust::ProjectRef::parse(ref->str());
    if (!again || again->str() != ref->str()) __builtin_trap();  // str() must round-trip
  }
  return 0;
}
