#include "boot/ovmf_varstore.hpp"

#include <algorithm>
#include <utility>

#include <openssl/x509.h>

#include "tpm/digest.hpp"
#include "trust/openssl.hpp"

namespace mos::boot {

namespace {

// gEfiSystemNvDataFvGuid: the FileSystemGuid of OVMF's VARS volume.
constexpr tpm::EfiGuid kSystemNvDataFv =
    tpm::efi_guid(0xfff12b8d, 0x7696, 0x4c8b, {0xa9, 0x85, 0x27, 0x47, 0x07, 0x5b, 0x4f, 0x50});
// gEfiAuthenticatedVariableGuid: a store of AUTHENTICATED_VARIABLE_HEADERs.
constexpr tpm::EfiGuid kAuthenticatedVariableStore =
    tpm::efi_guid(0xaaf32c78, 0x947b, 0x439a, {0xa1, 0x80, 0x2e, 0x14, 0x4e, 0xc3, 0x77, 0x92});
// gEfiVariableGuid: the older store of plain VARIABLE_HEADERs (builds without secure boot).
constexpr tpm::EfiGuid kPlainVariableStore =
    tpm::efi_guid(0xddcf3616, 0x3275, 0x4164, {0x98, 0xb6, 0xfe, 0x85, 0x70, 0x7f, 0xfe, 0x7d});
constexpr tpm::EfiGuid kSecureBootEnableDisable =
    tpm::efi_guid(0xf0a30bc7, 0xaf08, 0x4556, {0x99, 0xc4, 0x00, 0x10, 0x09, 0xc9, 0x3a, 0x44});
constexpr tpm::EfiGuid kCustomModeEnable =
    tpm::efi_guid(0xc076ec0c, 0x7028, 0x4399, {0xa0, 0x72, 0x71, 0xee, 0x5c, 0x44, 0x8b, 0x9f});
constexpr tpm::EfiGuid kVendorKeysNv =
    tpm::efi_guid(0x9073e4e0, 0x60ec, 0x4b6e, {0x99, 0x03, 0x4c, 0x22, 0x3c, 0x26, 0x0f, 0x3c});
// gEfiCertDbGuid: AuthVariableLib's list of certificates of other authenticated variables.
constexpr tpm::EfiGuid kCertDb =
    tpm::efi_guid(0xd9bee56e, 0x75dc, 0x49d9, {0xb4, 0xd7, 0xb5, 0x34, 0x21, 0x0f, 0x63, 0x7a});
// OVMF's EnrollDefaultKeys module, the owner of the placeholder dbx entry.
constexpr tpm::EfiGuid kOvmfEnrollDefaultKeys =
    tpm::efi_guid(0xa0baa8a3, 0x041d, 0x48a8, {0xbc, 0x87, 0xc3, 0x6d, 0x12, 0x1b, 0x5e, 0x3d});

constexpr std::size_t kFvHeaderFixedSize = 56;  // up to the block map
constexpr std::size_t kBlockMapEntrySize = 8;
constexpr std::size_t kStoreHeaderSize = 28;
constexpr std::size_t kVariableHeaderSize = 60;
constexpr std::size_t kVariableAlignment = 4;
constexpr std::uint16_t kVariableStartId = 0x55aa;
constexpr std::uint8_t kStoreFormatted = 0x5a;
constexpr std::uint8_t kStoreHealthy = 0xfe;
constexpr std::uint8_t kVarAdded = 0x3f;
constexpr std::uint8_t kVarAddedInDeletedTransition = 0x3e;
constexpr char kErased = '\xff';

constexpr std::uint32_t kSecureBootKeyAttributes =
    kVarNonVolatile | kVarBootService | kVarRuntime | kVarTimeBasedAuthenticatedWrite;
constexpr std::uint32_t kVendorKeysNvAttributes =
    kVarNonVolatile | kVarBootService | kVarTimeBasedAuthenticatedWrite;
constexpr std::uint32_t kSetupAttributes = kVarNonVolatile | kVarBootService;

std::uint64_t read_le(std::string_view bytes, std::size_t offset, int size) {
  std::uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i)
    value = (value << 8) | static_cast<std::uint8_t>(bytes[offset + static_cast<std::size_t>(i)]);
  return value;
}

void append_le(std::string& out, std::uint64_t value, int size) {
  for (int i = 0; i < size; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

tpm::EfiGuid read_guid(std::string_view bytes, std::size_t offset) {
  tpm::EfiGuid guid;
  for (std::size_t i = 0; i < guid.bytes.size(); ++i)
    guid.bytes[i] = static_cast<std::uint8_t>(bytes[offset + i]);
  return guid;
}

// Where the variables of a checked VARS image lie: [begin, end) after the store header.
struct StoreArea {
  std::size_t begin = 0;
  std::size_t end = 0;
};

Status check_volume_header(std::string_view image, std::string_view what) {
  if (image.size() < kFvHeaderFixedSize + 2 * kBlockMapEntrySize)
    return fail("{}: {} bytes is too short for a firmware volume header", what, image.size());
  if (image.substr(40, 4) != "_FVH")
    return fail("{}: not a firmware volume (no _FVH signature at offset 40)", what);
  if (auto guid = read_guid(image, 16); guid != kSystemNvDataFv)
    return fail("{}: firmware volume {} is not a variable store volume (expected {})", what,
                guid.str(), kSystemNvDataFv.str());
  const std::uint64_t fv_length = read_le(image, 32, 8);
  if (fv_length != image.size())
    return fail("{}: the firmware volume header says {} bytes but the image has {}", what,
                fv_length, image.size());
  const std::size_t header_length = read_le(image, 48, 2);
  if (header_length < kFvHeaderFixedSize + 2 * kBlockMapEntrySize || header_length % 2 != 0 ||
      header_length > image.size())
    return fail("{}: bad firmware volume header length {}", what, header_length);
  std::uint16_t sum = 0;
  for (std::size_t i = 0; i < header_length; i += 2)
    sum = static_cast<std::uint16_t>(sum + read_le(image, i, 2));
  if (sum != 0)
    return fail("{}: firmware volume header checksum mismatch (16-bit sum 0x{:04x}, expected 0)",
                what, sum);
  // The block map must end with {0, 0} inside the header and cover the volume exactly.
  std::uint64_t mapped = 0;
  for (std::size_t at = kFvHeaderFixedSize;; at += kBlockMapEntrySize) {
    if (at + kBlockMapEntrySize > header_length)
      return fail("{}: firmware volume block map has no terminating entry", what);
    const std::uint64_t blocks = read_le(image, at, 4);
    const std::uint64_t length = read_le(image, at + 4, 4);
    if (blocks == 0 && length == 0) break;
    mapped += blocks * length;  // each factor < 2^32: no overflow per entry
    if (mapped > fv_length) break;
  }
  if (mapped != fv_length)
    return fail("{}: firmware volume block map covers {} bytes, the volume has {}", what, mapped,
                fv_length);
  return {};
}

Result<StoreArea> locate_store(std::string_view image, std::string_view what) {
  MOS_TRY(check_volume_header(image, what));
  const std::size_t start = read_le(image, 48, 2);
  if (start + kStoreHeaderSize > image.size())
    return fail("{}: no room for a variable store header at offset {}", what, start);
  const tpm::EfiGuid format = read_guid(image, start);
  if (format == kPlainVariableStore)
    return fail("{}: variable store without authenticated variables (not a secure boot build)",
                what);
  if (format != kAuthenticatedVariableStore)
    return fail("{}: unknown variable store {} (expected {})", what, format.str(),
                kAuthenticatedVariableStore.str());
  const std::size_t size = read_le(image, start + 16, 4);
  const auto formatted = static_cast<std::uint8_t>(image[start + 20]);
  const auto state = static_cast<std::uint8_t>(image[start + 21]);
  if (formatted != kStoreFormatted || state != kStoreHealthy)
    return fail(
        "{}: variable store is not formatted and healthy (format 0x{:02x} state 0x{:02x}, "
        "expected 0x{:02x} 0x{:02x})",
        what, formatted, state, kStoreFormatted, kStoreHealthy);
  if (size < kStoreHeaderSize || size > image.size() - start)
    return fail("{}: variable store size {} does not fit the {}-byte volume at offset {}", what,
                size, image.size(), start);
  if ((start + kStoreHeaderSize) % kVariableAlignment != 0)
    return fail("{}: variable store at offset {} does not start its variables {}-byte aligned",
                what, start, kVariableAlignment);
  return StoreArea{.begin = start + kStoreHeaderSize, .end = start + size};
}

// UTF-16LE (without its terminator) as UTF-8; a lone surrogate becomes U+FFFD.
std::string utf8_of_utf16(std::string_view utf16) {
  std::string out;
  for (std::size_t i = 0; i + 1 < utf16.size(); i += 2) {
    std::uint32_t c = static_cast<std::uint32_t>(read_le(utf16, i, 2));
    if (c >= 0xd800 && c < 0xdc00 && i + 3 < utf16.size()) {
      const auto low = static_cast<std::uint32_t>(read_le(utf16, i + 2, 2));
      if (low >= 0xdc00 && low < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i += 2;
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xe0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

struct StoredVariable {
  FirmwareVariable variable;
  std::uint8_t state = 0;
};

// Every variable header of the store (any state), in store order.
Result<std::vector<StoredVariable>> walk_store(std::string_view image, const StoreArea& area,
                                               std::string_view what) {
  std::vector<StoredVariable> found;
  std::size_t at = area.begin;
  while (at + kVariableHeaderSize <= area.end && read_le(image, at, 2) == kVariableStartId) {
    const auto state = static_cast<std::uint8_t>(image[at + 2]);
    const std::size_t name_size = read_le(image, at + 36, 4);
    const std::size_t data_size = read_le(image, at + 40, 4);
    const std::size_t room = area.end - at - kVariableHeaderSize;
    if (name_size > room || data_size > room - name_size)
      return fail(
          "{}: variable at offset {} claims {} name and {} data bytes, past the store's "
          "end",
          what, at, name_size, data_size);
    const std::string_view name = image.substr(at + kVariableHeaderSize, name_size);
    if (name_size < 2 || name_size % 2 != 0 ||
        name.substr(name_size - 2) != std::string_view("\0\0", 2))
      return fail(
          "{}: variable at offset {} has a malformed name ({} bytes, expected "
          "NUL-terminated UTF-16)",
          what, at, name_size);
    StoredVariable stored;
    stored.state = state;
    stored.variable.name = utf8_of_utf16(name.substr(0, name_size - 2));
    stored.variable.vendor = read_guid(image, at + 44);
    stored.variable.attributes = static_cast<std::uint32_t>(read_le(image, at + 4, 4));
    stored.variable.timestamp = std::string(image.substr(at + 16, kEfiTimeSize));
    stored.variable.data =
        std::string(image.substr(at + kVariableHeaderSize + name_size, data_size));
    found.push_back(std::move(stored));
    at += kVariableHeaderSize + name_size + data_size;
    at = (at + kVariableAlignment - 1) / kVariableAlignment * kVariableAlignment;
  }
  return found;
}

bool same_variable(const FirmwareVariable& a, const FirmwareVariable& b) {
  return a.name == b.name && a.vendor == b.vendor;
}

// One variable as edk2 leaves it in flash: header, name, data, then erased bytes up to the next
// aligned header.
void append_variable(std::string& out, std::string_view name, const tpm::EfiGuid& vendor,
                     std::uint32_t attributes, std::string_view data, std::string_view timestamp) {
  std::string utf16;
  for (char c : name) append_le(utf16, static_cast<std::uint8_t>(c), 2);
  append_le(utf16, 0, 2);
  append_le(out, kVariableStartId, 2);
  out += static_cast<char>(kVarAdded);
  out += '\0';  // Reserved
  append_le(out, attributes, 4);
  append_le(out, 0, 8);  // MonotonicCount
  out += timestamp.empty() ? std::string(kEfiTimeSize, '\0') : std::string(timestamp);
  append_le(out, 0, 4);  // PubKeyIndex
  append_le(out, utf16.size(), 4);
  append_le(out, data.size(), 4);
  out += vendor.wire();
  out += utf16;
  out += data;
  while (out.size() % kVariableAlignment != 0) out += kErased;
}

Status check_certificate_der(std::string_view der, std::string_view what) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  trust::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return fail("{} is not a DER X.509 certificate: {}", what,
                trust::openssl_reason("trailing bytes after the certificate"));
  return {};
}

// An EFI signature database of one X.509 list per certificate, repeats dropped.
Result<std::string> certificate_database(const std::vector<EnrolledCertificate>& certs,
                                         std::string_view variable, std::string_view what) {
  if (certs.empty()) return fail("{}: no certificate to enroll in {}", what, variable);
  std::string database;
  std::vector<std::string_view> seen;
  for (std::size_t i = 0; i < certs.size(); ++i) {
    MOS_TRY(check_certificate_der(certs[i].der,
                                  fmt::format("{}: {} certificate {}", what, variable, i + 1)));
    if (std::ranges::find(seen, std::string_view(certs[i].der)) != seen.end()) continue;
    seen.emplace_back(certs[i].der);
    MOS_TRY_ASSIGN(auto list, tpm::signature_list(tpm::kCertX509, certs[i].owner, {certs[i].der}));
    database += list;
  }
  return database;
}

}  // namespace

std::string efi_time(int year, int month, int day, int hour, int minute, int second) {
  std::string out;
  append_le(out, static_cast<std::uint16_t>(year), 2);
  for (int field : {month, day, hour, minute, second}) out += static_cast<char>(field);
  out.append(kEfiTimeSize - out.size(), '\0');  // Pad1, Nanosecond, TimeZone, Daylight, Pad2
  return out;
}

Result<std::vector<FirmwareVariable>> read_variable_store(std::string_view image,
                                                          std::string_view what) {
  MOS_TRY_ASSIGN(const StoreArea area, locate_store(image, what));
  MOS_TRY_ASSIGN(auto stored, walk_store(image, area, what));
  std::vector<FirmwareVariable> live;
  for (const auto& entry : stored) {
    const bool live_copy =
        entry.state == kVarAdded ||
        (entry.state == kVarAddedInDeletedTransition &&
         std::ranges::none_of(stored, [&](const StoredVariable& other) {
           return other.state == kVarAdded && same_variable(other.variable, entry.variable);
         }));
    if (live_copy) live.push_back(entry.variable);
  }
  return live;
}

Result<std::string> enroll_secure_boot(std::string_view empty_vars,
                                       const SecureBootEnrolment& enrolment, std::string_view what,
                                       std::string_view timestamp) {
  MOS_TRY_ASSIGN(const StoreArea area, locate_store(empty_vars, what));
  MOS_TRY_ASSIGN(auto existing, walk_store(empty_vars, area, what));
  if (!existing.empty())
    return fail(
        "{}: variable store is not empty ({} variable headers, the first {}); expected a "
        "fresh OVMF_VARS image",
        what, existing.size(), existing.front().variable.name);
  const std::string_view store = empty_vars.substr(area.begin, area.end - area.begin);
  if (std::ranges::any_of(store, [](char c) { return c != kErased; }))
    return fail(
        "{}: variable store holds data that is not a variable; expected erased (0xff) "
        "space",
        what);
  if (!timestamp.empty() && timestamp.size() != kEfiTimeSize)
    return fail("{}: enrolment time stamp has {} bytes, expected {}", what, timestamp.size(),
                kEfiTimeSize);

  MOS_TRY_ASSIGN(auto pk, certificate_database({enrolment.pk}, "PK", what));
  MOS_TRY_ASSIGN(auto kek, certificate_database(enrolment.kek, "KEK", what));
  MOS_TRY_ASSIGN(auto db, certificate_database(enrolment.db, "db", what));
  MOS_TRY_ASSIGN(auto dbx, tpm::signature_list(tpm::kCertSha256, kOvmfEnrollDefaultKeys,
                                               {std::string(tpm::bytes_of(tpm::sha256("")))}));

  const std::string_view stamp = timestamp;
  const std::string_view none;
  std::string variables;
  // An empty certdb: its u32 total size counts only itself.
  append_variable(variables, "certdb", kCertDb, kSecureBootKeyAttributes,
                  std::string("\x04\0\0\0", 4), none);
  append_variable(variables, "db", tpm::kImageSecurityDatabase, kSecureBootKeyAttributes, db,
                  stamp);
  append_variable(variables, "dbx", tpm::kImageSecurityDatabase, kSecureBootKeyAttributes, dbx,
                  stamp);
  append_variable(variables, "KEK", tpm::kEfiGlobalVariable, kSecureBootKeyAttributes, kek, stamp);
  append_variable(variables, "PK", tpm::kEfiGlobalVariable, kSecureBootKeyAttributes, pk, stamp);
  append_variable(variables, "VendorKeysNv", kVendorKeysNv, kVendorKeysNvAttributes,
                  std::string(1, '\0'), none);
  append_variable(variables, "SecureBootEnable", kSecureBootEnableDisable, kSetupAttributes,
                  std::string(1, '\1'), none);
  append_variable(variables, "CustomMode", kCustomModeEnable, kSetupAttributes,
                  std::string(1, '\0'), none);
  if (variables.size() > store.size())
    return fail("{}: the enrolled variables need {} bytes, the store has {}", what,
                variables.size(), store.size());

  std::string image(empty_vars);
  image.replace(area.begin, variables.size(), variables);
  return image;
}

}  // namespace mos::boot
