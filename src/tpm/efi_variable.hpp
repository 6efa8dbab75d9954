#pragma once
// The byte encodings UEFI firmware and shim hash into PCR7 (TCG PC Client Platform Firmware
// Profile, UEFI 2.x §32): EFI_GUID, EFI_SIGNATURE_DATA, EFI_SIGNATURE_LIST and the
// UEFI_VARIABLE_DATA structure whose SHA-256 is the digest of a variable event.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "tpm/digest.hpp"

namespace mos::tpm {

// An EFI_GUID as it lies in memory and is hashed: Data1 (u32), Data2 and Data3 (u16) little-
// endian, then Data4's eight bytes as written. "8be4df61-93ca-11d2-aa0d-00e098032b8c" is
// 61 df e4 8b ca 93 d2 11 aa 0d 00 e0 98 03 2b 8c ("mixed-endian").
struct EfiGuid {
  std::array<std::uint8_t, 16> bytes{};

  std::string_view wire() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  // Lowercase 8-4-4-4-12 text.
  std::string str() const;
  friend bool operator==(const EfiGuid&, const EfiGuid&) = default;
};

constexpr EfiGuid efi_guid(std::uint32_t data1, std::uint16_t data2, std::uint16_t data3,
                           std::array<std::uint8_t, 8> data4) {
  EfiGuid guid;
  for (int i = 0; i < 4; ++i) guid.bytes[i] = static_cast<std::uint8_t>(data1 >> (8 * i));
  for (int i = 0; i < 2; ++i) guid.bytes[4 + i] = static_cast<std::uint8_t>(data2 >> (8 * i));
  for (int i = 0; i < 2; ++i) guid.bytes[6 + i] = static_cast<std::uint8_t>(data3 >> (8 * i));
  for (int i = 0; i < 8; ++i) guid.bytes[8 + i] = data4[i];
  return guid;
}

// The text form of a keyset's guid files; either case, surrounding whitespace refused (the
// caller trims a file's newline). `what` names the source in the message.
Result<EfiGuid> parse_efi_guid(std::string_view text, std::string_view what);

// EFI_GLOBAL_VARIABLE: SecureBoot, PK, KEK.
inline constexpr EfiGuid kEfiGlobalVariable =
    efi_guid(0x8be4df61, 0x93ca, 0x11d2, {0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c});
// EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx, and the authority events of images they allow.
inline constexpr EfiGuid kImageSecurityDatabase =
    efi_guid(0xd719b2cb, 0x3d3a, 0x4596, {0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f});
// SHIM_LOCK_GUID: shim's variables (SbatLevel, MokListTrusted, its "Shim" authority event).
inline constexpr EfiGuid kShimLock =
    efi_guid(0x605dab50, 0xe046, 0x4300, {0xab, 0xb6, 0x3d, 0xd8, 0x10, 0xdd, 0x8b, 0x23});
// Signature types of an EFI_SIGNATURE_LIST.
inline constexpr EfiGuid kCertX509 =
    efi_guid(0xa5c059a1, 0x94e4, 0x4aa7, {0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72});
inline constexpr EfiGuid kCertSha256 =
    efi_guid(0xc1c41626, 0x504c, 0x4092, {0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28});
// The owner of the entries the original's bootkit shim carries in its vendor db.
inline constexpr EfiGuid kZeroGuid{};

// EFI_SIGNATURE_DATA: SignatureOwner || SignatureData.
std::string signature_data(const EfiGuid& owner, std::string_view data);

// EFI_SIGNATURE_LIST with no header and one entry per element of `entries`, all owned by
// `owner`: SignatureType || u32 ListSize || u32 HeaderSize 0 || u32 SignatureSize ||
// entries. Every entry must have the same size (a list holds one size); none is refused too.
Result<std::string> signature_list(const EfiGuid& type, const EfiGuid& owner,
                                   const std::vector<std::string>& entries);

// UEFI_VARIABLE_DATA: VariableName (GUID) || u64 UnicodeNameLength (UTF-16 code units) ||
// u64 VariableDataLength || UnicodeName (UTF-16LE, no terminator) || VariableData. Variable
// names are ASCII (every name measured into PCR7 is).
std::string variable_data(std::string_view name, const EfiGuid& vendor, std::string_view data);

// The digest a variable event extends PCR7 with: SHA-256 of variable_data().
Sha256 variable_digest(std::string_view name, const EfiGuid& vendor, std::string_view data);

}  // namespace mos::tpm
