// Debian's shim with our vendor certificate in place of Debian's.
#include "boot/shim_vendor_cert.hpp"

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

// The subject of a DER certificate, as openssl prints it.
std::string subject_of(std::string_view der) {
  auto out =
      run_checked(ProcessRun{.argv = {"openssl", "x509", "-inform", "DER", "-noout", "-subject"},
                             .input = std::string(der)});
  EXPECT_TRUE(out) << (out ? "" : out.error().message);
  return out ? *out : std::string();
}

class ShimVendorCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shim_ = read_debian_file(kDebianShim);
    if (shim_.empty()) GTEST_SKIP() << kDebianShim << " is absent (Debian's shim-unsigned)";
    auto dir = TempDir::create();
    ASSERT_TRUE(dir) << dir.error().message;
    dir_.emplace(std::move(*dir));
    key_ = make_signing_key(dir_->path(), "mos test uefi-db");
    auto der = read_file(key_.cert_der);
    ASSERT_TRUE(der) << der.error().message;
    cert_der_ = *der;
  }
  const std::filesystem::path& dir() const { return dir_->path(); }

  std::string shim_;
  std::optional<TempDir> dir_;
  SigningKey key_;
  std::string cert_der_;
};

TEST_F(ShimVendorCertTest, ReadsDebiansCertTable) {
  auto image = PeImage::parse(shim_, "shimx64.efi");
  ASSERT_TRUE(image) << image.error().message;
  auto section = image->section_data(".vendor_cert");
  ASSERT_TRUE(section) << section.error().message;
  EXPECT_EQ(section->size(), 0x258au);
  auto table = parse_shim_cert_table(*section, "shimx64.efi");
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(table->authorized.size(), 930u);
  EXPECT_EQ(table->deauthorized.size(), 8664u);
  EXPECT_THAT(subject_of(table->authorized), HasSubstr("CN = Debian Secure Boot CA"));
  // Writing the table back gives Debian's bytes: same header layout as shim's cert_table.
  EXPECT_EQ(shim_cert_table_bytes(*table), *section);
}

TEST_F(ShimVendorCertTest, PutsOurCertificateInPlaceOfDebians) {
  auto ours = shim_with_vendor_cert(shim_, cert_der_, "shimx64.efi");
  ASSERT_TRUE(ours) << ours.error().message;
  auto path = write_to(dir(), "shimx64.efi", *ours);
  auto debian_path = write_to(dir(), "debian-shimx64.efi", shim_);

  std::string section = objcopy_section(path, ".vendor_cert");
  EXPECT_EQ(section.size(), 16 + cert_der_.size());
  auto table = parse_shim_cert_table(section, "our shim");
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(table->authorized, cert_der_);
  EXPECT_EQ(table->deauthorized, "");
  EXPECT_THAT(subject_of(table->authorized), HasSubstr("CN = mos test uefi-db"));

  auto before = objdump_sections(debian_path);
  auto after = objdump_sections(path);
  ASSERT_EQ(after.size(), before.size());
  ASSERT_EQ(after.size(), 10u);
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].name, before[i].name);
    EXPECT_EQ(after[i].vma, before[i].vma);
    EXPECT_EQ(after[i].file_offset, before[i].file_offset);
    if (before[i].name == ".vendor_cert") continue;
    EXPECT_EQ(after[i].size, before[i].size);
    EXPECT_EQ(objcopy_section(path, after[i].name), objcopy_section(debian_path, before[i].name))
        << before[i].name;
  }
  EXPECT_EQ(objdump_header_value(path, "SizeOfImage"), 0xe1000u);
  EXPECT_EQ(objdump_header_value(path, "CheckSum"), reference_pe_checksum(*ours));
  EXPECT_EQ(ours->size(), shim_.size());  // the symbol table (long names) stays at the end

  auto again = shim_with_vendor_cert(shim_, cert_der_, "shimx64.efi");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *ours);
  auto verified = sign_and_verify(path, key_);
  EXPECT_TRUE(verified) << (verified ? "" : verified.error().message);
}

TEST_F(ShimVendorCertTest, RefusesWhatWouldNotWork) {
  EXPECT_THAT(error_of(shim_with_vendor_cert(shim_, "not DER", "shimx64.efi")),
              HasSubstr("not one DER certificate"));
  EXPECT_THAT(error_of(shim_with_vendor_cert(shim_, cert_der_ + "x", "shimx64.efi")),
              HasSubstr("not one DER certificate"));
  // A certificate of 0x3000 bytes: with the header it reaches .dynamic at 0xc3000.
  std::string huge("\x30\x82\x2f\xfc", 4);
  huge.resize(0x3000, 'c');
  EXPECT_THAT(error_of(shim_with_vendor_cert(shim_, huge, "shimx64.efi")),
              HasSubstr("would reach into section .dynamic at 0xc3000"));
  std::string stub = read_debian_file(kDebianStub);
  if (!stub.empty()) {
    EXPECT_THAT(error_of(shim_with_vendor_cert(stub, cert_der_, "linuxx64.efi.stub")),
                HasSubstr("linuxx64.efi.stub has no .vendor_cert section"));
  }
  EXPECT_THAT(error_of(shim_with_vendor_cert(shim_.substr(0, 0x90000), cert_der_, "cut.efi")),
              HasSubstr("cut.efi is truncated"));
}

TEST_F(ShimVendorCertTest, RefusesABrokenCertTable) {
  EXPECT_THAT(error_of(parse_shim_cert_table("short", "s")), HasSubstr("shorter than its 16-byte"));
  std::string table = shim_cert_table_bytes({.authorized = cert_der_, .deauthorized = "dbx"});
  EXPECT_THAT(error_of(parse_shim_cert_table(table.substr(0, table.size() - 1), "s")),
              HasSubstr("the vendor dbx (3 bytes at offset"));
  EXPECT_THAT(error_of(parse_shim_cert_table(table.substr(0, 100), "s")),
              HasSubstr("the vendor certificate"));
  auto parsed = parse_shim_cert_table(table, "s");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->authorized, cert_der_);
  EXPECT_EQ(parsed->deauthorized, "dbx");
}

}  // namespace
}  // namespace mos::boot
