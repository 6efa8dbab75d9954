// Unified kernel images from Debian's systemd stub, compared with what objcopy (the way
// tests/vm/make-guest.sh and systemd 252's ukify build them) makes of the same parts.
#include "boot/uki.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "boot/pe_image.hpp"
#include "core/file.hpp"
#include "core/process.hpp"
#include "unit/boot/pe_test_support.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

using ::testing::HasSubstr;
using namespace mos::boot::test;
using mos::test::error_of;

std::string pattern(std::size_t size, char seed) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(seed + i * 13 + (i >> 9));
  return bytes;
}

class UkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    parts_.stub = read_debian_file(kDebianStub);
    if (parts_.stub.empty()) GTEST_SKIP() << kDebianStub << " is absent (systemd-boot-efi)";
    auto dir = TempDir::create();
    ASSERT_TRUE(dir) << dir.error().message;
    dir_.emplace(std::move(*dir));
    // Sizes that are not multiples of anything, the kernel over the 16 MiB the original capped.
    parts_.kernel = pattern(17 * 1024 * 1024 + 123, 'k');
    parts_.initramfs = pattern(300001, 'i');
    parts_.cmdline = "console=ttyS0 quiet panic=-1";
    parts_.os_release = "ID=mos\nPRETTY_NAME=\"mos test\"\n";
  }
  const std::filesystem::path& dir() const { return dir_->path(); }

  UkiParts parts_;
  std::optional<TempDir> dir_;
};

TEST_F(UkiTest, PlacesThePartsAsObjcopyDoes) {
  auto uki = assemble_uki(parts_);
  ASSERT_TRUE(uki) << uki.error().message;
  auto path = write_to(dir(), "uki.efi", *uki);

  // The same UKI by objcopy, with the addresses make-guest.sh computes.
  std::vector<std::string> argv = {"objcopy"};
  std::uint64_t end = 0x19100 + 0x34;  // .sdmagic, the stub's last section
  std::vector<std::pair<std::string, std::string>> named = {{".osrel", parts_.os_release},
                                                            {".cmdline", parts_.cmdline},
                                                            {".linux", parts_.kernel},
                                                            {".initrd", parts_.initramfs}};
  std::vector<std::uint64_t> addresses;
  for (const auto& [name, data] : named) {
    std::uint64_t vma = (end + 0xfff) / 0x1000 * 0x1000;
    addresses.push_back(vma);
    auto file = write_to(dir(), name.substr(1), data);
    argv.push_back("--add-section");
    argv.push_back(fmt::format("{}={}", name, file.string()));
    argv.push_back("--change-section-vma");
    argv.push_back(fmt::format("{}={:#x}", name, vma));
    end = vma + data.size();
  }
  argv.push_back(write_to(dir(), "stub.efi", parts_.stub).string());
  argv.push_back((dir() / "objcopy-uki.efi").string());
  auto made = run_checked(ProcessRun{.argv = argv});
  ASSERT_TRUE(made) << made.error().message;

  auto ours = objdump_sections(path);
  auto theirs = objdump_sections(dir() / "objcopy-uki.efi");
  ASSERT_EQ(ours.size(), 12u);
  ASSERT_EQ(theirs.size(), ours.size());
  for (std::size_t i = 0; i < ours.size(); ++i) {
    EXPECT_EQ(ours[i].name, theirs[i].name);
    EXPECT_EQ(ours[i].vma, theirs[i].vma) << ours[i].name;
    EXPECT_EQ(ours[i].size, theirs[i].size) << ours[i].name;
    EXPECT_EQ(ours[i].file_offset, theirs[i].file_offset) << ours[i].name;
    EXPECT_EQ(ours[i].flags, theirs[i].flags) << ours[i].name;
  }
  for (std::size_t i = 0; i < named.size(); ++i) {
    EXPECT_EQ(ours[8 + i].name, named[i].first);
    EXPECT_EQ(ours[8 + i].vma, addresses[i]);
    EXPECT_EQ(objcopy_section(path, named[i].first), named[i].second) << named[i].first;
  }
  EXPECT_EQ(objdump_header_value(path, "SizeOfImage"), (end + 0x1ff) / 0x200 * 0x200);
  EXPECT_EQ(objdump_header_value(path, "SizeOfImage"),
            objdump_header_value(dir() / "objcopy-uki.efi", "SizeOfImage"));
  EXPECT_EQ(objdump_header_value(path, "CheckSum"), reference_pe_checksum(*uki));
}

TEST_F(UkiTest, IsDeterministicAndSignable) {
  auto first = assemble_uki(parts_);
  auto second = assemble_uki(parts_);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*first, *second);
  parts_.cmdline += " ";
  auto other = assemble_uki(parts_);
  ASSERT_TRUE(other);
  EXPECT_NE(*first, *other);

  auto key = make_signing_key(dir(), "mos uki test");
  auto verified = sign_and_verify(write_to(dir(), "uki.efi", *first), key);
  EXPECT_TRUE(verified) << (verified ? "" : verified.error().message);
}

TEST_F(UkiTest, LeavesOutEmptyParts) {
  parts_.cmdline.clear();
  parts_.initramfs.clear();
  auto uki = assemble_uki(parts_);
  ASSERT_TRUE(uki) << uki.error().message;
  auto image = PeImage::parse(*uki, "uki");
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->find(".cmdline"), nullptr);
  EXPECT_EQ(image->find(".initrd"), nullptr);
  ASSERT_NE(image->find(".linux"), nullptr);
  EXPECT_EQ(image->find(".linux")->virtual_address, 0x1b000u);  // right after .osrel's page
}

TEST_F(UkiTest, RefusesBadParts) {
  UkiParts no_kernel = parts_;
  no_kernel.kernel.clear();
  EXPECT_THAT(error_of(assemble_uki(no_kernel)), HasSubstr("without a kernel"));

  auto uki = assemble_uki(parts_);
  ASSERT_TRUE(uki);
  UkiParts twice = parts_;
  twice.stub = *uki;
  EXPECT_THAT(error_of(assemble_uki(twice)), HasSubstr("already has a .osrel section"));

  std::string shim = read_debian_file(kDebianShim);
  if (!shim.empty()) {
    UkiParts not_a_stub = parts_;
    not_a_stub.stub = shim;
    EXPECT_THAT(error_of(assemble_uki(not_a_stub)), HasSubstr("no .sdmagic section"));
  }
  UkiParts garbage = parts_;
  garbage.stub = "MZ";
  EXPECT_THAT(error_of(assemble_uki(garbage)), HasSubstr("not an EFI (PE/COFF) image"));
}

}  // namespace
}  // namespace mos::boot
