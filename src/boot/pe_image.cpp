#include "boot/pe_image.hpp"

#include <algorithm>
#include <limits>

#include "core/file.hpp"

namespace mos::boot {

namespace {

// PE/COFF layout (Microsoft's "PE Format" specification).
constexpr std::size_t kCoffHeaderSize = 20;
constexpr std::size_t kSectionHeaderSize = 40;
constexpr std::size_t kSymbolSize = 18;
constexpr std::uint16_t kMagicPe32 = 0x10b;
constexpr std::uint16_t kMagicPe32Plus = 0x20b;
// Optional header fields at the same offset in PE32 and PE32+.
constexpr std::size_t kOptSizeOfInitializedData = 8;
constexpr std::size_t kOptSectionAlignment = 32;
constexpr std::size_t kOptFileAlignment = 36;
constexpr std::size_t kOptSizeOfImage = 56;
constexpr std::size_t kOptSizeOfHeaders = 60;
constexpr std::size_t kOptCheckSum = 64;
constexpr std::size_t kDataDirSecurity = 4;  // its "address" is a file offset, not an RVA
constexpr std::size_t kDataDirDebug = 6;
constexpr std::size_t kDebugEntrySize = 28;
constexpr std::size_t kDebugPointerToRawData = 24;
constexpr std::uint16_t kFileLocalSymsStripped = 0x0008;
constexpr std::uint32_t kScnInitializedData = 0x00000040;
constexpr std::uint32_t kScnMemRead = 0x40000000;
// New sections start on a page: the firmware maps images page by page, and systemd's ukify
// (objcopy-based in systemd 252, whose stub declares a 512-byte SectionAlignment) used 4 KiB.
constexpr std::uint32_t kPageSize = 0x1000;
constexpr std::size_t kMaxImageSize = std::size_t{1} << 31;

std::optional<std::uint32_t> u32_at(std::string_view bytes, std::size_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < 4) return std::nullopt;
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

std::optional<std::uint16_t> u16_at(std::string_view bytes, std::size_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < 2) return std::nullopt;
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[offset]) |
                                    (static_cast<unsigned char>(bytes[offset + 1]) << 8));
}

// Writers only ever touch offsets parse() has checked.
void put_u32(std::string& bytes, std::size_t offset, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

void put_u16(std::string& bytes, std::size_t offset, std::uint16_t value) {
  bytes[offset] = static_cast<char>(value & 0xff);
  bytes[offset + 1] = static_cast<char>(value >> 8);
}

std::uint64_t round_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

bool power_of_two(std::uint32_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

// The memory a section occupies once loaded: its virtual size, or its raw size when a linker
// left the virtual size 0.
std::uint64_t loaded_end(const PeSection& section) {
  std::uint32_t size = section.virtual_size != 0 ? section.virtual_size : section.raw_size;
  return std::uint64_t{section.virtual_address} + size;
}

// The standard PE checksum (ImageHlp's CheckSumMappedFile, also pesign's): the 16-bit
// one's-complement-style sum of the file with the checksum field read as 0, plus the file size.
std::uint32_t pe_checksum(std::string_view bytes, std::size_t checksum_offset) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    if (i == checksum_offset || i == checksum_offset + 2) continue;
    std::uint32_t word = static_cast<unsigned char>(bytes[i]);
    if (i + 1 < bytes.size())
      word |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    sum += word;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint32_t>(sum + bytes.size());
}

}  // namespace

Result<PeImage> PeImage::load(const std::filesystem::path& path) {
  auto bytes = read_file(path, kMaxImageSize);
  if (!bytes) return context(fmt::format("reading the EFI image {}", path.string()), bytes.error());
  return parse(std::move(*bytes), path.string());
}

Result<PeImage> PeImage::parse(std::string bytes, std::string_view what) {
  PeImage image;
  image.what_ = std::string(what);
  std::string_view view = bytes;
  if (!view.starts_with("MZ")) return fail("{} is not an EFI (PE/COFF) image: no MZ header", what);
  auto pe_offset = u32_at(view, 0x3c);
  if (!pe_offset || *pe_offset > view.size() ||
      view.substr(*pe_offset, 4) != std::string_view("PE\0\0", 4))
    return fail("{} is not an EFI (PE/COFF) image: no PE signature", what);
  image.coff_ = std::size_t{*pe_offset} + 4;
  auto section_count = u16_at(view, image.coff_ + 2);
  auto symbols = u32_at(view, image.coff_ + 8);
  auto symbol_count = u32_at(view, image.coff_ + 12);
  auto optional_size = u16_at(view, image.coff_ + 16);
  if (!section_count || !symbols || !symbol_count || !optional_size)
    return fail("{} is truncated: its COFF header is cut short", what);
  image.optional_ = image.coff_ + kCoffHeaderSize;
  auto magic = u16_at(view, image.optional_);
  if (!magic || *optional_size < 2) return fail("{} is truncated or has no optional header", what);
  if (*magic != kMagicPe32Plus && *magic != kMagicPe32)
    return fail("{}: optional header magic {:#x} is neither PE32+ (0x20b) nor PE32 (0x10b)", what,
                *magic);
  bool plus = *magic == kMagicPe32Plus;
  std::size_t rva_count_at = plus ? 108 : 92;
  image.data_dirs_ = image.optional_ + rva_count_at + 4;
  if (*optional_size < rva_count_at + 4 || view.size() < image.optional_ + *optional_size)
    return fail("{} is truncated: its optional header ({} bytes) is cut short", what,
                *optional_size);
  std::uint32_t rva_count = *u32_at(view, image.optional_ + rva_count_at);
  if (rva_count > 16 || rva_count_at + 4 + std::size_t{rva_count} * 8 > *optional_size)
    return fail("{}: {} data directories do not fit in its {}-byte optional header", what,
                rva_count, *optional_size);
  image.data_dir_count_ = rva_count;
  std::uint32_t section_alignment = *u32_at(view, image.optional_ + kOptSectionAlignment);
  std::uint32_t file_alignment = *u32_at(view, image.optional_ + kOptFileAlignment);
  if (!power_of_two(section_alignment) || !power_of_two(file_alignment))
    return fail("{}: section alignment {:#x} and file alignment {:#x} must be powers of two", what,
                section_alignment, file_alignment);
  // The PE format caps FileAlignment at 64 KiB; a larger one would make every edit grow the
  // image by that much (a crafted image could ask for gigabytes).
  if (file_alignment > 0x10000)
    return fail("{}: file alignment {:#x} is above the PE format's 64 KiB", what, file_alignment);
  image.section_table_ = image.optional_ + *optional_size;
  if (view.size() < image.section_table_ + std::size_t{*section_count} * kSectionHeaderSize)
    return fail("{} is truncated: its {} section headers run past the end of the file", what,
                *section_count);
  std::size_t string_table = 0;
  if (*symbols != 0)
    string_table = std::size_t{*symbols} + std::size_t{*symbol_count} * kSymbolSize;
  for (std::size_t i = 0; i < *section_count; ++i) {
    std::size_t header = image.section_table_ + i * kSectionHeaderSize;
    std::string_view raw_name = view.substr(header, 8);
    PeSection section;
    section.name = std::string(raw_name.substr(0, raw_name.find('\0')));
    if (section.name.starts_with('/')) {
      // A long name: "/N" is its offset in the COFF string table.
      std::size_t offset = 0;
      for (char c : std::string_view(section.name).substr(1)) {
        if (c < '0' || c > '9' || offset > 1000000000)
          return fail("{}: section {} has a bad long name {}", what, i, section.name);
        offset = offset * 10 + static_cast<std::size_t>(c - '0');
      }
      if (string_table == 0)
        return fail("{}: section {} has a long name {} but the image has no string table", what, i,
                    section.name);
      if (string_table >= view.size())
        return fail(
            "{} is truncated: its string table (section names) at offset {:#x} lies past "
            "its end ({} bytes)",
            what, string_table, view.size());
      std::size_t at = string_table + offset;
      std::size_t end =
          string_table == 0 || at >= view.size() ? std::string_view::npos : view.find('\0', at);
      if (end == std::string_view::npos)
        return fail("{}: section {}'s long name {} lies outside the string table", what, i,
                    section.name);
      section.name = std::string(view.substr(at, end - at));
    }
    section.virtual_size = *u32_at(view, header + 8);
    section.virtual_address = *u32_at(view, header + 12);
    section.raw_size = *u32_at(view, header + 16);
    section.raw_offset = *u32_at(view, header + 20);
    section.characteristics = *u32_at(view, header + 36);
    const std::size_t table_end = image.section_table_ + *section_count * kSectionHeaderSize;
    if (section.raw_size != 0 && section.raw_offset < table_end)
      return fail(
          "{}: section {}'s file data (offset {:#x}) overlaps the headers, which end at {:#x}",
          what, section.name, section.raw_offset, table_end);
    if (section.raw_size != 0 && std::uint64_t{section.raw_offset} + section.raw_size > view.size())
      return fail(
          "{} is truncated: section {} ({} bytes at offset {:#x}) runs past its end ({} "
          "bytes)",
          what, section.name, section.raw_size, section.raw_offset, view.size());
    image.sections_.push_back(std::move(section));
  }
  image.bytes_ = std::move(bytes);
  return image;
}

const PeSection* PeImage::find(std::string_view name) const {
  auto it = std::find_if(sections_.begin(), sections_.end(),
                         [&](const PeSection& section) { return section.name == name; });
  return it == sections_.end() ? nullptr : &*it;
}

Result<std::string_view> PeImage::section_data(std::string_view name) const {
  const PeSection* section = find(name);
  if (!section) return fail("{} has no {} section", what_, name);
  std::uint32_t size = section->virtual_size != 0 && section->virtual_size < section->raw_size
                           ? section->virtual_size
                           : section->raw_size;
  if (size == 0) return std::string_view{};  // no file data: PointerToRawData means nothing
  return std::string_view(bytes_).substr(section->raw_offset, size);
}

std::uint32_t PeImage::header_u32(std::size_t optional_field) const {
  return *u32_at(bytes_, optional_ + optional_field);
}

void PeImage::set_header_u32(std::size_t optional_field, std::uint32_t value) {
  put_u32(bytes_, optional_ + optional_field, value);
}

std::size_t PeImage::section_header(std::size_t index) const {
  return section_table_ + index * kSectionHeaderSize;
}

std::size_t PeImage::sections_end() const {
  // The section table counts even when SizeOfHeaders (unchecked input) claims less.
  std::size_t end =
      std::max<std::size_t>(header_u32(kOptSizeOfHeaders), section_header(sections_.size()));
  for (const PeSection& section : sections_)
    if (section.raw_size != 0)
      end = std::max<std::size_t>(end, std::size_t{section.raw_offset} + section.raw_size);
  return end;
}

Status PeImage::drop_signature() {
  if (data_dir_count_ <= kDataDirSecurity) return {};
  std::size_t entry = data_dirs_ + kDataDirSecurity * 8;
  std::uint32_t offset = *u32_at(bytes_, entry);
  std::uint32_t size = *u32_at(bytes_, entry + 4);
  put_u32(bytes_, entry, 0);
  put_u32(bytes_, entry + 4, 0);
  // The certificate table is appended after everything else; cut it off with any padding.
  if (size != 0 && offset >= sections_end() && offset <= bytes_.size()) bytes_.resize(offset);
  return {};
}

void PeImage::strip_symbol_table() {
  std::uint32_t symbols = *u32_at(bytes_, coff_ + 8);
  if (symbols == 0) return;
  for (std::size_t i = 0; i < sections_.size(); ++i)
    if (bytes_[section_header(i)] == '/') return;  // long names live in its string table
  if (symbols < sections_end()) return;
  bytes_.resize(std::min<std::size_t>(symbols, bytes_.size()));
  put_u32(bytes_, coff_ + 8, 0);
  put_u32(bytes_, coff_ + 12, 0);
  put_u16(bytes_, coff_ + 18, *u16_at(bytes_, coff_ + 18) | kFileLocalSymsStripped);
}

Result<std::size_t> PeImage::file_offset_of_rva(std::uint32_t rva) const {
  for (const PeSection& section : sections_) {
    if (rva >= section.virtual_address &&
        std::uint64_t{rva} < std::uint64_t{section.virtual_address} + section.raw_size)
      return std::size_t{section.raw_offset} + (rva - section.virtual_address);
  }
  return fail("{}: address {:#x} is in no section's file data", what_, rva);
}

Status PeImage::insert_bytes(std::size_t at, std::size_t count) {
  if (bytes_.size() + count > kMaxImageSize)
    return fail("{} would grow past {} bytes", what_, kMaxImageSize);
  bytes_.insert(at, count, '\0');
  auto moved = [&](std::uint32_t pointer) {
    return pointer != 0 && pointer >= at ? static_cast<std::uint32_t>(pointer + count) : pointer;
  };
  for (std::size_t i = 0; i < sections_.size(); ++i) {
    std::size_t header = section_header(i);
    if (sections_[i].raw_size != 0) {
      sections_[i].raw_offset = moved(sections_[i].raw_offset);
      put_u32(bytes_, header + 20, sections_[i].raw_offset);
    }
    put_u32(bytes_, header + 24, moved(*u32_at(bytes_, header + 24)));  // relocations
    put_u32(bytes_, header + 28, moved(*u32_at(bytes_, header + 28)));  // line numbers
  }
  put_u32(bytes_, coff_ + 8, moved(*u32_at(bytes_, coff_ + 8)));  // symbol table
  if (data_dir_count_ > kDataDirSecurity) {
    std::size_t entry = data_dirs_ + kDataDirSecurity * 8;
    put_u32(bytes_, entry, moved(*u32_at(bytes_, entry)));
  }
  // The debug directory (in some section's data) points at its records by file offset too.
  if (data_dir_count_ > kDataDirDebug) {
    std::size_t entry = data_dirs_ + kDataDirDebug * 8;
    std::uint32_t rva = *u32_at(bytes_, entry);
    std::uint32_t size = *u32_at(bytes_, entry + 4);
    if (rva != 0 && size != 0) {
      MOS_TRY_ASSIGN(std::size_t directory, file_offset_of_rva(rva));
      for (std::size_t record = 0; record + kDebugEntrySize <= size; record += kDebugEntrySize) {
        std::size_t field = directory + record + kDebugPointerToRawData;
        auto pointer = u32_at(bytes_, field);
        if (!pointer) return fail("{}: the debug directory runs past the end of the file", what_);
        put_u32(bytes_, field, moved(*pointer));
      }
    }
  }
  return {};
}

Status PeImage::make_room_for_section_header() {
  std::size_t table_end = section_header(sections_.size() + 1);
  std::size_t old_table_end = section_header(sections_.size());
  std::size_t first_raw = bytes_.size();
  std::uint64_t lowest_rva = header_u32(kOptSizeOfImage);
  for (const PeSection& section : sections_) {
    if (section.raw_size != 0) first_raw = std::min<std::size_t>(first_raw, section.raw_offset);
    lowest_rva = std::min<std::uint64_t>(lowest_rva, section.virtual_address);
  }
  std::uint32_t file_alignment = header_u32(kOptFileAlignment);
  std::uint64_t headers =
      std::max<std::uint64_t>(header_u32(kOptSizeOfHeaders), round_up(table_end, file_alignment));
  // The headers are loaded at address 0, below the first section: they cannot grow into it.
  if (headers > lowest_rva)
    return fail(
        "{}: no room for another section header: the headers would need {:#x} bytes but "
        "the first section starts at address {:#x}",
        what_, headers, lowest_rva);
  if (old_table_end > first_raw)
    return fail("{}: the section table overlaps the first section's data", what_);
  std::string_view padding = std::string_view(bytes_).substr(
      old_table_end, std::min<std::size_t>(table_end, first_raw) - old_table_end);
  if (padding.find_first_not_of('\0') != std::string_view::npos)
    return fail("{}: the bytes after the section table are in use: cannot add a section header",
                what_);
  if (table_end > first_raw)
    MOS_TRY(insert_bytes(first_raw, round_up(table_end - first_raw, file_alignment)));
  set_header_u32(kOptSizeOfHeaders, static_cast<std::uint32_t>(headers));
  return {};
}

void PeImage::finish() {
  std::uint64_t end = 0;
  for (const PeSection& section : sections_) end = std::max(end, loaded_end(section));
  std::uint64_t size_of_image = std::max<std::uint64_t>(
      header_u32(kOptSizeOfImage), round_up(end, header_u32(kOptSectionAlignment)));
  set_header_u32(kOptSizeOfImage, static_cast<std::uint32_t>(size_of_image));
  set_header_u32(kOptCheckSum, 0);
  set_header_u32(kOptCheckSum, pe_checksum(bytes_, optional_ + kOptCheckSum));
}

Status PeImage::add_section(std::string_view name, std::string_view data) {
  if (name.empty() || name.size() > 8)
    return fail("{}: cannot add section '{}': a section name has 1 to 8 bytes", what_, name);
  if (name.find('\0') != std::string_view::npos || name.starts_with('/'))
    return fail("{}: cannot add section '{}': bad name", what_, name);
  if (find(name)) return fail("{} already has a {} section", what_, name);
  if (data.empty()) return fail("{}: cannot add section {}: it would be empty", what_, name);
  if (sections_.size() >= 0xffff) return fail("{} has too many sections", what_);
  std::uint32_t file_alignment = header_u32(kOptFileAlignment);
  std::uint32_t alignment = std::max(header_u32(kOptSectionAlignment), kPageSize);
  std::uint64_t end = header_u32(kOptSizeOfHeaders);
  for (const PeSection& section : sections_) end = std::max(end, loaded_end(section));
  std::uint64_t address = round_up(end, alignment);
  std::uint64_t raw_size = round_up(data.size(), file_alignment);
  if (address + data.size() > std::numeric_limits<std::uint32_t>::max() ||
      bytes_.size() + raw_size > kMaxImageSize)
    return fail("{}: section {} ({} bytes) does not fit in a PE image", what_, name, data.size());

  if (round_up(sections_end(), file_alignment) + raw_size > kMaxImageSize)
    return fail("{}: section {} ({} bytes) does not fit in a PE image", what_, name, data.size());
  MOS_TRY(drop_signature());
  strip_symbol_table();
  MOS_TRY(make_room_for_section_header());
  std::size_t raw_offset = round_up(sections_end(), file_alignment);
  if (bytes_.size() < raw_offset) bytes_.resize(raw_offset, '\0');
  // Anything still after the sections (a symbol table with long names) moves behind the data.
  MOS_TRY(insert_bytes(raw_offset, raw_size));
  bytes_.replace(raw_offset, data.size(), data);

  std::size_t header = section_header(sections_.size());
  bytes_.replace(header, kSectionHeaderSize, kSectionHeaderSize, '\0');
  bytes_.replace(header, name.size(), name);
  PeSection section{.name = std::string(name),
                    .virtual_address = static_cast<std::uint32_t>(address),
                    .virtual_size = static_cast<std::uint32_t>(data.size()),
                    .raw_offset = static_cast<std::uint32_t>(raw_offset),
                    .raw_size = static_cast<std::uint32_t>(raw_size),
                    .characteristics = kScnInitializedData | kScnMemRead};
  put_u32(bytes_, header + 8, section.virtual_size);
  put_u32(bytes_, header + 12, section.virtual_address);
  put_u32(bytes_, header + 16, section.raw_size);
  put_u32(bytes_, header + 20, section.raw_offset);
  put_u32(bytes_, header + 36, section.characteristics);
  sections_.push_back(std::move(section));
  put_u16(bytes_, coff_ + 2, static_cast<std::uint16_t>(sections_.size()));
  set_header_u32(kOptSizeOfInitializedData,
                 header_u32(kOptSizeOfInitializedData) + static_cast<std::uint32_t>(raw_size));
  finish();
  return {};
}

Status PeImage::replace_section(std::string_view name, std::string_view data) {
  auto it = std::find_if(sections_.begin(), sections_.end(),
                         [&](const PeSection& section) { return section.name == name; });
  if (it == sections_.end()) return fail("{} has no {} section to replace", what_, name);
  std::size_t index = static_cast<std::size_t>(it - sections_.begin());
  const PeSection& section = sections_[index];
  if (section.raw_size == 0)
    return fail("{}: section {} has no data in the file to replace", what_, name);
  if (data.empty()) return fail("{}: cannot replace section {} with nothing", what_, name);
  std::uint64_t new_end = std::uint64_t{section.virtual_address} + data.size();
  for (const PeSection& other : sections_) {
    if (&other == &section || other.virtual_address < section.virtual_address) continue;
    if (new_end > other.virtual_address)
      return fail("{}: {} bytes for section {} at {:#x} would reach into section {} at {:#x}",
                  what_, data.size(), name, section.virtual_address, other.name,
                  other.virtual_address);
  }
  if (new_end > std::numeric_limits<std::uint32_t>::max())
    return fail("{}: section {} ({} bytes) does not fit in a PE image", what_, name, data.size());

  MOS_TRY(drop_signature());
  std::uint32_t file_alignment = header_u32(kOptFileAlignment);
  std::uint64_t raw_size =
      std::max<std::uint64_t>(section.raw_size, round_up(data.size(), file_alignment));
  // Growing moves what follows in the file by whole file-alignment units; shrinking keeps the
  // section's file space so the other sections stay where they are, byte for byte.
  if (raw_size > section.raw_size) {
    std::size_t grow = raw_size - section.raw_size;
    MOS_TRY(insert_bytes(std::size_t{section.raw_offset} + section.raw_size, grow));
    if (section.characteristics & kScnInitializedData)
      set_header_u32(kOptSizeOfInitializedData,
                     header_u32(kOptSizeOfInitializedData) + static_cast<std::uint32_t>(grow));
  }
  PeSection& target = sections_[index];
  bytes_.replace(target.raw_offset, raw_size, raw_size, '\0');
  bytes_.replace(target.raw_offset, data.size(), data);
  target.raw_size = static_cast<std::uint32_t>(raw_size);
  target.virtual_size = static_cast<std::uint32_t>(data.size());
  std::size_t header = section_header(index);
  put_u32(bytes_, header + 8, target.virtual_size);
  put_u32(bytes_, header + 16, target.raw_size);
  finish();
  return {};
}

}  // namespace mos::boot
