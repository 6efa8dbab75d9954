// Reading and editing PE images, checked on Debian's systemd stub and shim through objdump,
// objcopy and sbsign/sbverify.
#include "boot/pe_image.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "unit/boot/pe_test_support.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

using ::testing::HasSubstr;
using namespace mos::boot::test;
using mos::test::error_of;

std::uint32_t u32_at(std::string_view bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

std::uint64_t align(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// Bytes that differ from section to section and are not all zero.
std::string pattern(std::size_t size, char seed) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(seed + i * 7 + (i >> 8));
  return bytes;
}

class PeImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stub_ = read_debian_file(kDebianStub);
    if (stub_.empty()) GTEST_SKIP() << kDebianStub << " is absent (Debian's systemd-boot-efi)";
    auto dir = TempDir::create();
    ASSERT_TRUE(dir) << dir.error().message;
    dir_.emplace(std::move(*dir));
  }
  PeImage stub() {
    auto image = PeImage::parse(stub_, "linuxx64.efi.stub");
    EXPECT_TRUE(image) << (image ? "" : image.error().message);
    return std::move(*image);
  }
  const std::filesystem::path& dir() const { return dir_->path(); }

  std::string stub_;
  std::optional<TempDir> dir_;
};

TEST_F(PeImageTest, ReadsTheSectionTableObjdumpShows) {
  PeImage image = stub();
  auto expected = objdump_sections(kDebianStub);
  ASSERT_EQ(image.sections().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(image.sections()[i].name, expected[i].name);
    EXPECT_EQ(image.sections()[i].virtual_address, expected[i].vma);
    EXPECT_EQ(image.sections()[i].virtual_size, expected[i].size);
    EXPECT_EQ(image.sections()[i].raw_offset, expected[i].file_offset);
  }
  auto sdmagic = image.section_data(".sdmagic");
  ASSERT_TRUE(sdmagic) << sdmagic.error().message;
  EXPECT_EQ(*sdmagic, objcopy_section(write_to(dir(), "stub.efi", stub_), ".sdmagic"));
  EXPECT_THAT(error_of(image.section_data(".linux")), HasSubstr("has no .linux section"));
}

TEST_F(PeImageTest, ResolvesLongSectionNamesOfTheShim) {
  std::string shim = read_debian_file(kDebianShim);
  if (shim.empty()) GTEST_SKIP() << kDebianShim << " is absent (Debian's shim-unsigned)";
  auto image = PeImage::parse(shim, "shimx64.efi");
  ASSERT_TRUE(image) << image.error().message;
  const PeSection* vendor_cert = image->find(".vendor_cert");
  ASSERT_NE(vendor_cert, nullptr);
  EXPECT_EQ(vendor_cert->virtual_address, 0xc0000u);
  EXPECT_NE(image->find(".sbatlevel"), nullptr);
  auto data = image->section_data(".vendor_cert");
  ASSERT_TRUE(data) << data.error().message;
  EXPECT_EQ(*data, objcopy_section(write_to(dir(), "shim.efi", shim), ".vendor_cert"));
}

TEST_F(PeImageTest, ReferenceChecksumMatchesTheLinkersOnDebianFiles) {
  // Validates the test's own checksum against what ld wrote, so it can judge ours below.
  EXPECT_EQ(reference_pe_checksum(stub_), objdump_header_value(kDebianStub, "CheckSum"));
}

TEST_F(PeImageTest, AddsASectionAtThePageAfterTheLastOne) {
  PeImage image = stub();
  const PeSection last = image.sections().back();
  std::string data = pattern(5000, 'a');
  ASSERT_TRUE(image.add_section(".test", data));
  std::uint64_t expected_vma = align(last.virtual_address + last.virtual_size, 0x1000);
  EXPECT_EQ(expected_vma, 0x1a000u);  // after .sdmagic (0x19100 + 0x34)

  auto path = write_to(dir(), "out.efi", image.bytes());
  auto sections = objdump_sections(path);
  ASSERT_EQ(sections.size(), 9u);
  EXPECT_EQ(sections.back().name, ".test");
  EXPECT_EQ(sections.back().vma, expected_vma);
  EXPECT_EQ(sections.back().size, data.size());
  EXPECT_EQ(sections.back().flags, "CONTENTS, ALLOC, LOAD, READONLY, DATA");
  EXPECT_EQ(objcopy_section(path, ".test"), data);
  EXPECT_EQ(objdump_header_value(path, "SizeOfImage"), align(expected_vma + data.size(), 0x200));
  EXPECT_EQ(objdump_header_value(path, "SizeOfInitializedData"), 0x5000u + align(5000, 0x200));
  EXPECT_EQ(objdump_header_value(path, "CheckSum"), reference_pe_checksum(image.bytes()));
  // The symbol table is gone; the file ends with the new section's data.
  const PeSection& added = image.sections().back();
  EXPECT_EQ(image.bytes().size(), std::size_t{added.raw_offset} + added.raw_size);
  EXPECT_EQ(added.raw_offset % 0x200, 0u);
  // The stub's own sections did not move.
  auto before = objdump_sections(kDebianStub);
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(sections[i].vma, before[i].vma);
    EXPECT_EQ(sections[i].file_offset, before[i].file_offset);
  }
}

TEST_F(PeImageTest, SameInputsGiveTheSameBytes) {
  PeImage first = stub(), second = stub();
  for (PeImage* image : {&first, &second}) {
    ASSERT_TRUE(image->add_section(".one", pattern(100, 'x')));
    ASSERT_TRUE(image->add_section(".two", pattern(70000, 'y')));
  }
  EXPECT_EQ(first.bytes(), second.bytes());
}

TEST_F(PeImageTest, GrowsTheHeadersWhenTheSectionTableIsFull) {
  // The stub's 0x400 bytes of headers hold 7 more section headers; the 8th needs more room.
  PeImage image = stub();
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) {
    names.push_back(fmt::format(".s{}", i));
    auto added = image.add_section(names.back(), pattern(300 + i * 1000, static_cast<char>(i)));
    ASSERT_TRUE(added) << added.error().message;
  }
  auto path = write_to(dir(), "many.efi", image.bytes());
  EXPECT_GT(objdump_header_value(path, "SizeOfHeaders"), 0x400u);
  auto sections = objdump_sections(path);
  ASSERT_EQ(sections.size(), 18u);
  std::uint64_t previous_end = 0;
  for (const ObjdumpSection& section : sections) {
    EXPECT_GE(section.vma, previous_end) << section.name << " overlaps the section before it";
    previous_end = section.vma + section.size;
    EXPECT_EQ(section.file_offset % 0x200, 0u) << section.name;
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(sections[8 + i].vma % 0x1000, 0u);
    EXPECT_EQ(objcopy_section(path, names[i]), pattern(300 + i * 1000, static_cast<char>(i)));
  }
  // The stub's code moved in the file, intact.
  EXPECT_EQ(objcopy_section(path, ".text"),
            objcopy_section(write_to(dir(), "stub.efi", stub_), ".text"));
  EXPECT_EQ(objdump_header_value(path, "CheckSum"), reference_pe_checksum(image.bytes()));
  auto key = make_signing_key(dir(), "mos pe test");
  auto verified = sign_and_verify(path, key);
  EXPECT_TRUE(verified) << (verified ? "" : verified.error().message);
}

TEST_F(PeImageTest, ReplacesASectionGrowingItInTheFile) {
  // .data (0x34b8 bytes at 0x11000) may grow to 0x4000 before .dynamic at 0x15000; its file
  // space (0x3600) grows to 0x3e00 and the sections after it move by 0x800.
  PeImage image = stub();
  std::string data = pattern(0x3e00, 'd');
  auto replaced = image.replace_section(".data", data);
  ASSERT_TRUE(replaced) << replaced.error().message;
  auto path = write_to(dir(), "data.efi", image.bytes());
  auto stub_path = write_to(dir(), "stub.efi", stub_);
  auto before = objdump_sections(stub_path);
  auto after = objdump_sections(path);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].vma, before[i].vma);
    if (before[i].name == ".data") {
      EXPECT_EQ(after[i].size, data.size());
      EXPECT_EQ(objcopy_section(path, ".data"), data);
      continue;
    }
    EXPECT_EQ(after[i].file_offset,
              before[i].file_offset + (before[i].file_offset > 0xc600 ? 0x800 : 0));
    EXPECT_EQ(objcopy_section(path, after[i].name), objcopy_section(stub_path, before[i].name))
        << before[i].name;
  }
  EXPECT_EQ(objdump_header_value(path, "CheckSum"), reference_pe_checksum(image.bytes()));
}

TEST_F(PeImageTest, DropsAnExistingSignature) {
  auto key = make_signing_key(dir(), "mos pe test");
  auto stub_path = write_to(dir(), "stub.efi", stub_);
  ASSERT_TRUE(sign_and_verify(stub_path, key));
  auto signed_stub = read_file(stub_path.string() + ".signed");
  ASSERT_TRUE(signed_stub) << signed_stub.error().message;
  auto image = PeImage::parse(*signed_stub, "signed stub");
  ASSERT_TRUE(image) << image.error().message;
  ASSERT_TRUE(image->add_section(".test", "hello"));
  auto path = write_to(dir(), "resigned.efi", image->bytes());
  auto listed =
      run_process(ProcessRun{.argv = {"sbverify", "--list", path.string()}, .merge_stderr = true});
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_THAT(listed->out, HasSubstr("No signature table present"));
  const PeSection& added = image->sections().back();
  EXPECT_EQ(image->bytes().size(), std::size_t{added.raw_offset} + added.raw_size);
  EXPECT_TRUE(sign_and_verify(path, key));
}

TEST_F(PeImageTest, RefusesBadImagesAndRequests) {
  EXPECT_THAT(error_of(PeImage::parse("hello", "x.efi")), HasSubstr("x.efi is not an EFI"));
  EXPECT_THAT(error_of(PeImage::parse(stub_.substr(0, 0x100), "cut.efi")),
              HasSubstr("cut.efi is truncated"));
  EXPECT_THAT(error_of(PeImage::parse(stub_.substr(0, 0x10000), "cut.efi")),
              HasSubstr("cut.efi is truncated: section .rela"));
  std::string pe32 = stub_;
  pe32[u32_at(stub_, 0x3c) + 24] = 0x07;  // optional header magic 0x207
  EXPECT_THAT(error_of(PeImage::parse(pe32, "odd.efi")), HasSubstr("neither PE32+"));

  PeImage image = stub();
  EXPECT_THAT(error_of(image.add_section(".toolong12", "x")), HasSubstr("1 to 8 bytes"));
  EXPECT_THAT(error_of(image.add_section(".sbat", "x")), HasSubstr("already has a .sbat"));
  EXPECT_THAT(error_of(image.add_section(".empty", "")), HasSubstr("would be empty"));
  EXPECT_THAT(error_of(image.replace_section(".nothere", "x")),
              HasSubstr("has no .nothere section to replace"));
  // .sbat is at 0x19000, .sdmagic at 0x19100.
  EXPECT_THAT(error_of(image.replace_section(".sbat", std::string(0x101, 's'))),
              HasSubstr("would reach into section .sdmagic at 0x19100"));
  EXPECT_EQ(image.bytes(), stub_);  // refusals change nothing
  EXPECT_TRUE(image.replace_section(".sbat", std::string(0x100, 's')));
}

}  // namespace
}  // namespace mos::boot
