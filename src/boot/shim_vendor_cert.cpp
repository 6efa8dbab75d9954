#include "boot/shim_vendor_cert.hpp"

#include <optional>

#include "boot/pe_image.hpp"

namespace mos::boot {

namespace {

constexpr std::size_t kCertTableHeaderSize = 16;

std::uint32_t u32_at(std::string_view bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

void append_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// A DER SEQUENCE's total length from its header, so a certificate is checked to be one whole
// DER object rather than arbitrary bytes.
std::optional<std::size_t> der_sequence_size(std::string_view der) {
  if (der.size() < 2 || static_cast<unsigned char>(der[0]) != 0x30) return std::nullopt;
  auto first = static_cast<unsigned char>(der[1]);
  if (first < 0x80) return 2 + std::size_t{first};
  std::size_t count = first & 0x7f;
  if (count == 0 || count > 4 || der.size() < 2 + count) return std::nullopt;
  std::size_t length = 0;
  for (std::size_t i = 0; i < count; ++i)
    length = (length << 8) | static_cast<unsigned char>(der[2 + i]);
  return 2 + count + length;
}

}  // namespace

Result<ShimCertTable> parse_shim_cert_table(std::string_view section, std::string_view what) {
  if (section.size() < kCertTableHeaderSize)
    return fail("{}: the .vendor_cert section is {} bytes, shorter than its 16-byte header", what,
                section.size());
  std::uint32_t authorized_size = u32_at(section, 0);
  std::uint32_t deauthorized_size = u32_at(section, 4);
  std::uint32_t authorized_offset = u32_at(section, 8);
  std::uint32_t deauthorized_offset = u32_at(section, 12);
  auto within = [&](std::uint32_t offset, std::uint32_t size) {
    return std::uint64_t{offset} + size <= section.size();
  };
  if (!within(authorized_offset, authorized_size))
    return fail(
        "{}: the vendor certificate ({} bytes at offset {}) runs past the {}-byte "
        ".vendor_cert section",
        what, authorized_size, authorized_offset, section.size());
  if (!within(deauthorized_offset, deauthorized_size))
    return fail(
        "{}: the vendor dbx ({} bytes at offset {}) runs past the {}-byte .vendor_cert "
        "section",
        what, deauthorized_size, deauthorized_offset, section.size());
  return ShimCertTable{
      .authorized = std::string(section.substr(authorized_offset, authorized_size)),
      .deauthorized = std::string(section.substr(deauthorized_offset, deauthorized_size))};
}

std::string shim_cert_table_bytes(const ShimCertTable& table) {
  auto authorized_size = static_cast<std::uint32_t>(table.authorized.size());
  std::string out;
  append_u32(out, authorized_size);
  append_u32(out, static_cast<std::uint32_t>(table.deauthorized.size()));
  append_u32(out, kCertTableHeaderSize);
  append_u32(out, kCertTableHeaderSize + authorized_size);
  out += table.authorized;
  out += table.deauthorized;
  return out;
}

Result<std::string> shim_with_vendor_cert(std::string_view shim_image,
                                          std::string_view vendor_cert_der, std::string_view what) {
  auto der_size = der_sequence_size(vendor_cert_der);
  if (!der_size || *der_size != vendor_cert_der.size())
    return fail("the vendor certificate for {} is not one DER certificate ({} bytes)", what,
                vendor_cert_der.size());
  MOS_TRY_ASSIGN(PeImage image, PeImage::parse(std::string(shim_image), what));
  MOS_TRY_ASSIGN(std::string_view current, image.section_data(".vendor_cert"));
  // Refuse shims whose section is not a cert table: rewriting it would break them silently.
  MOS_TRY(parse_shim_cert_table(current, what));
  std::string table = shim_cert_table_bytes(
      ShimCertTable{.authorized = std::string(vendor_cert_der), .deauthorized = {}});
  MOS_TRY(image.replace_section(".vendor_cert", table));
  return image.bytes();
}

}  // namespace mos::boot
