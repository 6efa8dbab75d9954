// libFuzzer target: OVMF variable stores (the VARS half of the firmware flash) as the boot chain
// reads them — Debian's OVMF_VARS*.fd or any image a user names — and the enrolment of a fixed
// small keyset into them.
//
// read_variable_store and enroll_secure_boot must refuse bad input without crashing; an
// enrolment that succeeds must give a store that reads back with the enrolled PK, KEK and db.
// The corpus's seeds are small hand-made volumes in OVMF's format (an empty store, one with a
// variable, a truncated header), not copies of Debian's 4 MiB images.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "boot/ovmf_varstore.hpp"
#include "tpm/efi_variable.hpp"

namespace {

// A self-signed P-256 certificate (CN=mos-fuzz), generated once for this target with
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mos-fuzz
// so the enrolment is the same on every run.
constexpr std::string_view kCertificate(
    "\x30\x82\x01\x7e\x30\x82\x01\x23\xa0\x03\x02\x01\x02\x02\x14\x79\x09\x73\x04"
    "\xeb\xf6\xdd\x64\x93\x2c\x04\xe1\x1e\xc1\xaf\x0a\x8c\x09\xb8\x86\x30\x0a\x06"
    "\x08\x2a\x86\x48\xce\x3d\x04\x03\x02\x30\x13\x31\x11\x30\x0f\x06\x03\x55\x04"
    "\x03\x0c\x08\x6d\x6f\x73\x2d\x66\x75\x7a\x7a\x30\x20\x17\x0d\x32\x36\x31\x32"
    "\x30\x31\x30\x35\x33\x37\x35\x37\x5a\x18\x0f\x32\x31\x32\x36\x31\x31\x30\x37"
    "\x30\x35\x33\x37\x35\x37\x5a\x30\x13\x31\x11\x30\x0f\x06\x03\x55\x04\x03\x0c"
    "\x08\x6d\x6f\x73\x2d\x66\x75\x7a\x7a\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce"
    "\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00\x04\x70\xe7"
    "\x5e\xdb\x19\x4a\x6e\xc6\x70\x11\x46\x0c\x46\xcc\xb8\xd4\x95\x39\xd6\xc8\xee"
    "\xb2\x5c\xfa\x0b\xc1\xac\xc8\x89\x17\x31\x39\x2d\xaf\x6f\xcd\x19\xe8\x1d\xa6"
    "\x04\x66\x7c\x56\x69\x5f\x2d\x45\xae\xb2\x77\x13\x1b\xb3\x9d\x67\x0e\x29\x7c"
    "\xee\x5f\x46\x60\xd8\xa3\x53\x30\x51\x30\x1d\x06\x03\x55\x1d\x0e\x04\x16\x04"
    "\x14\x5b\xeb\x7e\xa4\x2e\x11\x92\xc7\xcf\x1e\x19\xfd\x83\x87\x29\x2a\x3b\x4b"
    "\xf8\x61\x30\x1f\x06\x03\x55\x1d\x23\x04\x18\x30\x16\x80\x14\x5b\xeb\x7e\xa4"
    "\x2e\x11\x92\xc7\xcf\x1e\x19\xfd\x83\x87\x29\x2a\x3b\x4b\xf8\x61\x30\x0f\x06"
    "\x03\x55\x1d\x13\x01\x01\xff\x04\x05\x30\x03\x01\x01\xff\x30\x0a\x06\x08\x2a"
    "\x86\x48\xce\x3d\x04\x03\x02\x03\x49\x00\x30\x46\x02\x21\x00\xea\xfc\x76\x04"
    "\x12\x74\x37\xd3\xf3\x74\xd0\x28\x3b\x69\x63\xf0\x2c\xc3\xca\x6a\xf7\x6e\x99"
    "\x5b\x78\x43\xd0\x63\xc5\xbe\xf0\xf7\x02\x21\x00\x8f\xd2\x21\xfc\x45\xa3\xe2"
    "\x8e\x0e\x60\xca\x5b\x17\xe1\x36\xc1\xc1\x75\xff\x43\xfe\x2a\x61\xd9\x97\xd6"
    "\x04\xaf\xa7\x4f\x76\xe7",
    386);

const mos::boot::SecureBootEnrolment& enrolment() {
  static const mos::boot::SecureBootEnrolment value = [] {
    const mos::tpm::EfiGuid owner = mos::tpm::efi_guid(
        0x6d6f7366, 0x757a, 0x7a00, {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08});
    const mos::boot::EnrolledCertificate cert{std::string(kCertificate), owner};
    // db twice: a repeated certificate is enrolled once.
    return mos::boot::SecureBootEnrolment{.pk = cert, .kek = {cert}, .db = {cert, cert}};
  }();
  return value;
}

bool holds(const std::vector<mos::boot::FirmwareVariable>& variables, std::string_view name,
           const mos::tpm::EfiGuid& vendor) {
  for (const auto& variable : variables)
    if (variable.name == name && variable.vendor == vendor && !variable.data.empty()) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)mos::boot::read_variable_store(input, "fuzz.fd");
  auto enrolled = mos::boot::enroll_secure_boot(input, enrolment(), "fuzz.fd");
  if (!enrolled) return 0;
  if (enrolled->size() != input.size()) __builtin_trap();  // the flash image keeps its size
  auto variables = mos::boot::read_variable_store(*enrolled, "enrolled");
  if (!variables) __builtin_trap();
  if (!holds(*variables, "PK", mos::tpm::kEfiGlobalVariable) ||
      !holds(*variables, "KEK", mos::tpm::kEfiGlobalVariable) ||
      !holds(*variables, "db", mos::tpm::kImageSecurityDatabase))
    __builtin_trap();
  // Enrolling is only for an empty store: the result is refused.
  if (mos::boot::enroll_secure_boot(*enrolled, enrolment(), "enrolled")) __builtin_trap();
  return 0;
}
