#include "tpm/efi_variable.hpp"

#include "core/text.hpp"

namespace mos::tpm {

namespace {

void append_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string EfiGuid::str() const {
  // Back from the wire order to the text order of each field.
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
      bytes[3], bytes[2], bytes[1], bytes[0], bytes[5], bytes[4], bytes[7], bytes[6], bytes[8],
      bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

Result<EfiGuid> parse_efi_guid(std::string_view text, std::string_view what) {
  if (!is_uuid(text))
    return fail("{} is not a GUID (expected 8-4-4-4-12 hex digits, found '{}')", what,
                text.substr(0, 64));
  // Text order: the 32 digits without dashes, read as 16 bytes.
  std::array<std::uint8_t, 16> text_order{};
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < text.size() && n < 16;) {
    if (text[i] == '-') {
      ++i;
      continue;
    }
    text_order[n++] = static_cast<std::uint8_t>(hex_value(text[i]) << 4 | hex_value(text[i + 1]));
    i += 2;
  }
  std::uint32_t data1 = static_cast<std::uint32_t>(text_order[0]) << 24 |
                        static_cast<std::uint32_t>(text_order[1]) << 16 |
                        static_cast<std::uint32_t>(text_order[2]) << 8 | text_order[3];
  auto data2 = static_cast<std::uint16_t>(text_order[4] << 8 | text_order[5]);
  auto data3 = static_cast<std::uint16_t>(text_order[6] << 8 | text_order[7]);
  std::array<std::uint8_t, 8> data4{};
  for (int i = 0; i < 8; ++i) data4[i] = text_order[8 + i];
  return efi_guid(data1, data2, data3, data4);
}

std::string signature_data(const EfiGuid& owner, std::string_view data) {
  std::string out(owner.wire());
  out += data;
  return out;
}

Result<std::string> signature_list(const EfiGuid& type, const EfiGuid& owner,
                                   const std::vector<std::string>& entries) {
  if (entries.empty()) return fail("an EFI signature list needs at least one entry");
  std::size_t entry_size = entries.front().size();
  for (const auto& entry : entries)
    if (entry.size() != entry_size)
      return fail(
          "the entries of one EFI signature list must have one size ({} and {} bytes given)",
          entry_size, entry.size());
  constexpr std::size_t kListHeader = 16 + 4 + 4 + 4;  // type, list, header and entry sizes
  std::size_t signature_size = owner.wire().size() + entry_size;
  std::size_t list_size = kListHeader + signature_size * entries.size();
  if (list_size > UINT32_MAX)
    return fail("an EFI signature list of {} bytes is too large", list_size);
  std::string out(type.wire());
  append_le(out, list_size, 4);
  append_le(out, 0, 4);  // SignatureHeaderSize: X.509 and SHA-256 lists have no header
  append_le(out, signature_size, 4);
  for (const auto& entry : entries) out += signature_data(owner, entry);
  return out;
}

std::string variable_data(std::string_view name, const EfiGuid& vendor, std::string_view data) {
  std::string out(vendor.wire());
  append_le(out, name.size(), 8);
  append_le(out, data.size(), 8);
  for (char c : name) append_le(out, static_cast<unsigned char>(c), 2);
  out += data;
  return out;
}

Sha256 variable_digest(std::string_view name, const EfiGuid& vendor, std::string_view data) {
  return sha256(variable_data(name, vendor, data));
}

}  // namespace mos::tpm
