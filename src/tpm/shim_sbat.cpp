#include "tpm/shim_sbat.hpp"

#include <cstdint>

#include "core/file.hpp"
#include "core/text.hpp"

namespace mos::tpm {

namespace {

constexpr std::size_t kMaxShimSize = 64 << 20;
constexpr std::size_t kCoffHeaderSize = 20;
constexpr std::size_t kSectionHeaderSize = 40;
constexpr std::size_t kSymbolSize = 18;           // a COFF symbol table entry
constexpr std::size_t kMaxSbatLevel = 64 * 1024;  // the text is a few lines

// Little-endian integers at checked offsets: nullopt past the end.
std::optional<std::uint32_t> u32_at(std::string_view bytes, std::size_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < 4) return std::nullopt;
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i)
    value = value << 8 | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  return value;
}

std::optional<std::uint16_t> u16_at(std::string_view bytes, std::size_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < 2) return std::nullopt;
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[offset]) |
                                    static_cast<unsigned char>(bytes[offset + 1]) << 8);
}

// A section's name: the 8 bytes of its header, or for "/N" the NUL-terminated string at
// offset N of the string table that follows the COFF symbol table.
std::optional<std::string_view> section_name(std::string_view image, std::string_view raw,
                                             std::size_t string_table) {
  raw = raw.substr(0, raw.find('\0'));
  if (raw.empty() || raw[0] != '/') return raw;
  auto offset = parse_unsigned(raw.substr(1), UINT32_MAX);
  if (!offset || string_table == 0 || string_table > image.size() ||
      *offset >= image.size() - string_table)
    return std::nullopt;
  std::string_view rest = image.substr(string_table + *offset);
  auto end = rest.find('\0');
  if (end == std::string_view::npos) return std::nullopt;
  return rest.substr(0, end);
}

// The NUL-terminated level at `offset` from the payload header, without its NUL.
Result<std::string> level_at(std::string_view section, std::uint32_t offset, std::string_view which,
                             std::string_view what) {
  constexpr std::size_t kPayloadHeader = 4;
  std::size_t start = kPayloadHeader + offset;
  if (offset >= section.size() || start >= section.size())
    return fail("{}: the {} SbatLevel offset {} points past the .sbatlevel section ({} bytes)",
                what, which, offset, section.size());
  std::string_view rest = section.substr(start);
  auto end = rest.find('\0');
  if (end == std::string_view::npos)
    return fail("{}: the {} SbatLevel in .sbatlevel has no terminating NUL", what, which);
  std::string_view level = rest.substr(0, end);
  if (level.size() > kMaxSbatLevel || !level.starts_with("sbat,") || !level.ends_with('\n'))
    return fail("{}: the {} SbatLevel in .sbatlevel is not an SbatLevel text (found '{}')", what,
                which, level.substr(0, 40));
  for (char c : level)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') ||
        static_cast<unsigned char>(c) >= 0x7f)
      return fail("{}: the {} SbatLevel in .sbatlevel holds a byte that is not printable ASCII",
                  what, which);
  return std::string(level);
}

}  // namespace

Result<std::string> pe_section(std::string_view image, std::string_view name,
                               std::string_view what) {
  if (!image.starts_with("MZ")) return fail("{} is not an EFI (PE/COFF) image: no MZ header", what);
  auto pe_offset = u32_at(image, 0x3c);
  if (!pe_offset || *pe_offset > image.size() ||
      image.substr(*pe_offset, 4) != std::string_view("PE\0\0", 4))
    return fail("{} is not an EFI (PE/COFF) image: no PE signature", what);
  std::size_t coff = *pe_offset + 4;
  auto sections = u16_at(image, coff + 2);
  auto symbols = u32_at(image, coff + 8);
  auto symbol_count = u32_at(image, coff + 12);
  auto optional_size = u16_at(image, coff + 16);
  if (!sections || !symbols || !symbol_count || !optional_size)
    return fail("{}: the COFF header is cut short", what);
  std::size_t string_table = 0;
  if (*symbols != 0)
    string_table = std::size_t{*symbols} + std::size_t{*symbol_count} * kSymbolSize;
  std::size_t table = coff + kCoffHeaderSize + *optional_size;
  for (std::size_t i = 0; i < *sections; ++i) {
    std::size_t header = table + i * kSectionHeaderSize;
    if (header > image.size() || image.size() - header < kSectionHeaderSize)
      return fail("{}: section header {} lies past the end of the file", what, i);
    auto found = section_name(image, image.substr(header, 8), string_table);
    if (!found) return fail("{}: section header {} has a name outside the string table", what, i);
    if (*found != name) continue;
    std::uint32_t virtual_size = *u32_at(image, header + 8);
    std::uint32_t raw_size = *u32_at(image, header + 16);
    std::uint32_t raw_offset = *u32_at(image, header + 20);
    // The file holds the section padded to the file alignment; its true size is the virtual
    // size when that is smaller (and not zero, which some linkers write).
    std::size_t size = virtual_size != 0 && virtual_size < raw_size ? virtual_size : raw_size;
    if (raw_offset > image.size() || image.size() - raw_offset < size)
      return fail("{}: section {} ({} bytes at offset {}) lies past the end of the file", what,
                  name, size, raw_offset);
    return std::string(image.substr(raw_offset, size));
  }
  return fail("{} has no {} section", what, name);
}

Result<ShimSbatLevels> parse_sbatlevel_section(std::string_view section, std::string_view what) {
  auto version = u32_at(section, 0);
  auto automatic = u32_at(section, 4);
  auto latest = u32_at(section, 8);
  if (!version || !automatic || !latest)
    return fail("{}: the .sbatlevel section is {} bytes, shorter than its 12-byte header", what,
                section.size());
  if (*version != 0)
    return fail("{}: .sbatlevel format version {} is not the known version 0", what, *version);
  ShimSbatLevels levels;
  MOS_TRY_ASSIGN(levels.automatic, level_at(section, *automatic, "automatic", what));
  MOS_TRY_ASSIGN(levels.latest, level_at(section, *latest, "latest", what));
  return levels;
}

Result<ShimSbatLevels> read_shim_sbat_levels(const std::filesystem::path& path) {
  auto image = read_file(path, kMaxShimSize);
  if (!image) return context(fmt::format("reading the shim {}", path.string()), image.error());
  MOS_TRY_ASSIGN(std::string section, pe_section(*image, ".sbatlevel", path.string()));
  return parse_sbatlevel_section(section, path.string());
}

Result<SbatLevelChoice> parse_sbat_level_choice(std::string_view text) {
  if (text == "automatic" || text == "previous") return SbatLevelChoice::automatic;
  if (text == "latest") return SbatLevelChoice::latest;
  return fail("unknown SbatLevel choice '{}': expected automatic or latest", text);
}

}  // namespace mos::tpm
