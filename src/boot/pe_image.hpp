#pragma once
// PE32+ (EFI application) images as the boot chain edits them: read the section table, add a
// section after the last one, replace a section's content at its own address. Written by hand
// because no Debian library edits PE files (objcopy does, as a program, and with hard-coded
// addresses in the original's scripts); every offset read is checked against the file's size.
// A modified image loses any Authenticode signature it had (sign it afterwards).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace mos::boot {

struct PeSection {
  std::string name;  // ".sbat", ".vendor_cert" (long names resolved through the string table)
  std::uint32_t virtual_address = 0;
  std::uint32_t virtual_size = 0;
  std::uint32_t raw_offset = 0;  // PointerToRawData
  std::uint32_t raw_size = 0;    // SizeOfRawData
  std::uint32_t characteristics = 0;
};

class PeImage {
 public:
  // `what` names the image in messages ("shimx64.efi").
  static Result<PeImage> parse(std::string bytes, std::string_view what);
  static Result<PeImage> load(const std::filesystem::path& path);

  const std::vector<PeSection>& sections() const { return sections_; }
  const PeSection* find(std::string_view name) const;
  // A section's content: its raw bytes, cut to its virtual size.
  Result<std::string_view> section_data(std::string_view name) const;

  // Appends an initialized, read-only data section named `name` (at most 8 bytes) at the first
  // section-aligned address after the last section, its data file-aligned at the end of the
  // file; SizeOfImage, SizeOfInitializedData and the checksum follow. "Section-aligned" means on
  // a 4 KiB page at least (systemd 252's stub declares 512 bytes; its ukify used pages). A
  // certificate table is dropped. The COFF symbol table at the end of the file is dropped too
  // (the file then ends with the new data) unless long section names need its string table;
  // when the section headers fill SizeOfHeaders, the sections' raw data is moved by whole
  // FileAlignment units (and every file pointer with it) to make room. Names of more than 8
  // bytes, names already present and empty data are refused.
  Status add_section(std::string_view name, std::string_view data);
  // Puts `data` in place of section `name`'s content, at the same virtual address. Refused when
  // it would reach into the next section's addresses. Smaller content keeps the section's file
  // space (the other sections stay byte for byte where they were); larger content moves the
  // raw data after it by whole FileAlignment units.
  Status replace_section(std::string_view name, std::string_view data);

  // The image's bytes, headers (and the standard PE checksum, as ld wrote it in Debian's stub
  // and shim) updated after every change.
  const std::string& bytes() const { return bytes_; }

 private:
  std::uint32_t header_u32(std::size_t optional_field) const;
  void set_header_u32(std::size_t optional_field, std::uint32_t value);
  std::size_t section_header(std::size_t index) const;
  // The file offset where the headers and the sections' raw data end.
  std::size_t sections_end() const;
  Result<std::size_t> file_offset_of_rva(std::uint32_t rva) const;
  // Clears the certificate table entry and cuts the table off the end of the file.
  Status drop_signature();
  // Drops a COFF symbol table left at the end of the file (images need none), unless section
  // long names point into its string table.
  void strip_symbol_table();
  // Inserts `count` zero bytes at file offset `at`, moving every file pointer at or after it
  // (sections' raw data, symbol table, certificate table, debug directory records).
  Status insert_bytes(std::size_t at, std::size_t count);
  // SizeOfHeaders grown to hold one more section header, moving the sections' raw data by
  // whole FileAlignment units when the table would reach into it.
  Status make_room_for_section_header();
  // SizeOfImage and the checksum after a change.
  void finish();

  std::string bytes_;
  std::string what_;
  std::vector<PeSection> sections_;
  std::size_t coff_ = 0;       // the COFF file header, after "PE\0\0"
  std::size_t optional_ = 0;   // the optional header
  std::size_t data_dirs_ = 0;  // its data directories
  std::size_t data_dir_count_ = 0;
  std::size_t section_table_ = 0;
};

}  // namespace mos::boot
