// OVMF's variable store against Debian's images: reading what they hold, and enrolling the
// snakeoil certificate into the empty store to get what Debian's OVMF_VARS_4M.snakeoil.fd holds.
#include "boot/ovmf_varstore.hpp"

#include <filesystem>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "trust/certificate.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const fs::path kEmptyVars = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const fs::path kSnakeoilVars = "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd";
const fs::path kEmptyVars2M = "/usr/share/OVMF/OVMF_VARS.fd";
const fs::path kSnakeoilPem = "/usr/share/ovmf/PkKek-1-snakeoil.pem";

// Where the 4M image's variables begin: FV header (0x48) + variable store header (0x1c).
constexpr std::size_t kFirstVariable = 0x64;

// The owner of KEK and db entries in Debian's snakeoil image (OVMF's EnrollDefaultKeys); PK's
// owner there is EFI_GLOBAL_VARIABLE.
constexpr tpm::EfiGuid kEnrollDefaultKeys =
    tpm::efi_guid(0xa0baa8a3, 0x041d, 0x48a8, {0xbc, 0x87, 0xc3, 0x6d, 0x12, 0x1b, 0x5e, 0x3d});
constexpr tpm::EfiGuid kSecureBootEnableDisable =
    tpm::efi_guid(0xf0a30bc7, 0xaf08, 0x4556, {0x99, 0xc4, 0x00, 0x10, 0x09, 0xc9, 0x3a, 0x44});
constexpr tpm::EfiGuid kCustomMode =
    tpm::efi_guid(0xc076ec0c, 0x7028, 0x4399, {0xa0, 0x72, 0x71, 0xee, 0x5c, 0x44, 0x8b, 0x9f});

// The time of the boot that enrolled Debian's snakeoil keys (read from its PK's EFI_TIME).
const std::string kDebianEnrolmentTime = efi_time(2025, 3, 10, 2, 53, 48);

#define SKIP_WITHOUT(path)                                                \
  do {                                                                    \
    if (!fs::exists(path)) GTEST_SKIP() << (path) << " is not installed"; \
  } while (0)

// The DER of the first certificate of a PEM file, through OpenSSL.
std::string der_of_pem_file(const fs::path& path) {
  auto cert = trust::parse_certificate_pem(test::read_text(path), path.string());
  if (!cert) {
    ADD_FAILURE() << cert.error().message;
    return {};
  }
  unsigned char* der = nullptr;
  const int size = i2d_X509(cert->get(), &der);
  if (size <= 0) {
    ADD_FAILURE() << "i2d_X509 failed on " << path;
    return {};
  }
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string x509_list(const std::string& der, const tpm::EfiGuid& owner) {
  auto list = tpm::signature_list(tpm::kCertX509, owner, {der});
  EXPECT_TRUE(list.has_value());
  return list ? *list : std::string();
}

std::vector<std::string> names_of(const std::vector<FirmwareVariable>& variables) {
  std::vector<std::string> names;
  for (const auto& v : variables) names.push_back(v.name);
  return names;
}

const FirmwareVariable* find(const std::vector<FirmwareVariable>& variables,
                             std::string_view name) {
  for (const auto& v : variables)
    if (v.name == name) return &v;
  return nullptr;
}

SecureBootEnrolment snakeoil_enrolment(const std::string& der) {
  SecureBootEnrolment enrolment;
  enrolment.pk = {.der = der, .owner = tpm::kEfiGlobalVariable};
  enrolment.kek = {{.der = der, .owner = kEnrollDefaultKeys}};
  enrolment.db = {{.der = der, .owner = kEnrollDefaultKeys}};
  return enrolment;
}

void put_u16(std::string& image, std::size_t offset, std::uint16_t value) {
  image[offset] = static_cast<char>(value & 0xff);
  image[offset + 1] = static_cast<char>(value >> 8);
}

TEST(OvmfVarstore, DebiansEmptyStoresHoldNoVariables) {
  SKIP_WITHOUT(kEmptyVars);
  auto variables = read_variable_store(test::read_text(kEmptyVars), "OVMF_VARS_4M.fd");
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  EXPECT_TRUE(variables->empty());
  SKIP_WITHOUT(kEmptyVars2M);
  auto small = read_variable_store(test::read_text(kEmptyVars2M), "OVMF_VARS.fd");
  ASSERT_TRUE(small.has_value()) << small.error().message;
  EXPECT_TRUE(small->empty());
}

TEST(OvmfVarstore, DebiansSnakeoilStoreHoldsTheSnakeoilCertificate) {
  SKIP_WITHOUT(kSnakeoilVars);
  SKIP_WITHOUT(kSnakeoilPem);
  auto variables = read_variable_store(test::read_text(kSnakeoilVars), "snakeoil");
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  // The image was made by booting EnrollDefaultKeys.efi: a whole boot's variables are left in it
  // (BootOrder only in deleted copies), the secure boot ones last.
  EXPECT_THAT(
      names_of(*variables),
      ElementsAre("certdb", "MTC", "Attempt 1", "Attempt 2", "Attempt 3", "Attempt 4", "Attempt 5",
                  "Attempt 6", "Attempt 7", "InitialAttemptOrder", "Attempt 8", "Boot0000",
                  "Timeout", "PlatformLang", "Lang", "VarErrorFlag", "Key0000", "Key0001", "ConOut",
                  "ConIn", "ErrOut", "Boot0001", "Boot0002", "MemoryTypeInformation", "db", "dbx",
                  "KEK", "PK", "VendorKeysNv", "SecureBootEnable", "CustomMode"));
  const std::string der = der_of_pem_file(kSnakeoilPem);
  ASSERT_EQ(der.size(), 891u);
  const FirmwareVariable* pk = find(*variables, "PK");
  const FirmwareVariable* kek = find(*variables, "KEK");
  const FirmwareVariable* db = find(*variables, "db");
  const FirmwareVariable* enable = find(*variables, "SecureBootEnable");
  ASSERT_TRUE(pk && kek && db && enable);
  EXPECT_EQ(pk->vendor, tpm::kEfiGlobalVariable);
  EXPECT_EQ(pk->data, x509_list(der, tpm::kEfiGlobalVariable));
  EXPECT_EQ(kek->vendor, tpm::kEfiGlobalVariable);
  EXPECT_EQ(kek->data, x509_list(der, kEnrollDefaultKeys));
  EXPECT_EQ(db->vendor, tpm::kImageSecurityDatabase);
  EXPECT_EQ(db->data, x509_list(der, kEnrollDefaultKeys));
  for (const auto* key : {pk, kek, db}) {
    EXPECT_EQ(key->attributes, 0x27u) << key->name;
    EXPECT_EQ(key->timestamp, kDebianEnrolmentTime) << key->name;
  }
  EXPECT_EQ(enable->vendor, kSecureBootEnableDisable);
  EXPECT_EQ(enable->attributes, kVarNonVolatile | kVarBootService);
  EXPECT_EQ(enable->data, std::string(1, '\1'));
  EXPECT_EQ(find(*variables, "CustomMode")->data, std::string(1, '\0'));
}

TEST(OvmfVarstore, EnrollingTheSnakeoilCertificateGivesDebiansSecureBootVariables) {
  SKIP_WITHOUT(kEmptyVars);
  SKIP_WITHOUT(kSnakeoilVars);
  SKIP_WITHOUT(kSnakeoilPem);
  const std::string empty = test::read_text(kEmptyVars);
  const std::string debian = test::read_text(kSnakeoilVars);
  auto enrolled = enroll_secure_boot(empty, snakeoil_enrolment(der_of_pem_file(kSnakeoilPem)),
                                     "empty", kDebianEnrolmentTime);
  ASSERT_TRUE(enrolled.has_value()) << enrolled.error().message;
  ASSERT_EQ(enrolled->size(), debian.size());

  auto ours = read_variable_store(*enrolled, "enrolled");
  auto theirs = read_variable_store(debian, "snakeoil");
  ASSERT_TRUE(ours.has_value()) << ours.error().message;
  ASSERT_TRUE(theirs.has_value()) << theirs.error().message;
  // Debian's image also holds what the enrolling boot left (boot options, consoles, iSCSI
  // attempts); its secure boot variables, in its order, are exactly ours.
  const std::set<std::string> secure_boot = {
      "certdb", "db", "dbx", "KEK", "PK", "VendorKeysNv", "SecureBootEnable", "CustomMode"};
  std::vector<FirmwareVariable> debian_secure_boot;
  for (const auto& v : *theirs)
    if (secure_boot.contains(v.name)) debian_secure_boot.push_back(v);
  ASSERT_EQ(names_of(*ours), names_of(debian_secure_boot));
  for (std::size_t i = 0; i < ours->size(); ++i) {
    const auto& a = (*ours)[i];
    const auto& b = debian_secure_boot[i];
    EXPECT_EQ(a.vendor, b.vendor) << a.name;
    EXPECT_EQ(a.attributes, b.attributes) << a.name;
    EXPECT_EQ(a.data, b.data) << a.name;
    EXPECT_EQ(a.timestamp, b.timestamp) << a.name;
  }
  // Headers before the variables and everything after the store (the fault-tolerant-write
  // blocks) are Debian's bytes too; only the variable area differs.
  EXPECT_EQ(enrolled->substr(0, kFirstVariable), debian.substr(0, kFirstVariable));
  EXPECT_EQ(enrolled->substr(0x40000), debian.substr(0x40000));
}

TEST(OvmfVarstore, EnrolledStoreHoldsExactlyTheSecureBootVariables) {
  SKIP_WITHOUT(kEmptyVars);
  SKIP_WITHOUT(kSnakeoilPem);
  const std::string der = der_of_pem_file(kSnakeoilPem);
  SecureBootEnrolment enrolment = snakeoil_enrolment(der);
  enrolment.kek.push_back(enrolment.kek.front());  // a repeat is kept once
  auto enrolled = enroll_secure_boot(test::read_text(kEmptyVars), enrolment, "empty");
  ASSERT_TRUE(enrolled.has_value()) << enrolled.error().message;
  auto variables = read_variable_store(*enrolled, "enrolled");
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  EXPECT_THAT(names_of(*variables), ElementsAre("certdb", "db", "dbx", "KEK", "PK", "VendorKeysNv",
                                                "SecureBootEnable", "CustomMode"));
  for (const auto& v : *variables) EXPECT_EQ(v.timestamp, std::string(16, '\0')) << v.name;
  EXPECT_EQ(find(*variables, "KEK")->data, x509_list(der, kEnrollDefaultKeys));
  // dbx: one SHA-256 entry, the hash of nothing.
  const std::string dbx = find(*variables, "dbx")->data;
  ASSERT_EQ(dbx.size(), 76u);
  EXPECT_EQ(dbx.substr(16 + 12 + 16, 4), std::string("\xe3\xb0\xc4\x42", 4));
  EXPECT_EQ(find(*variables, "CustomMode")->vendor, kCustomMode);
  // After the last variable the store is erased flash.
  const std::size_t used = enrolled->find_last_not_of('\xff', 0x40000 - 1) + 1;
  EXPECT_GT(used, kFirstVariable + 3 * 891);
  EXPECT_LT(used, kFirstVariable + 4 * 1024);
}

TEST(OvmfVarstore, EnrollsIntoTheSmallStoreToo) {
  SKIP_WITHOUT(kEmptyVars2M);
  SKIP_WITHOUT(kSnakeoilPem);
  auto enrolled = enroll_secure_boot(test::read_text(kEmptyVars2M),
                                     snakeoil_enrolment(der_of_pem_file(kSnakeoilPem)), "2M");
  ASSERT_TRUE(enrolled.has_value()) << enrolled.error().message;
  EXPECT_EQ(enrolled->size(), 131072u);
  auto variables = read_variable_store(*enrolled, "2M");
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  EXPECT_EQ(variables->size(), 8u);
}

TEST(OvmfVarstore, SameInputsGiveTheSameBytes) {
  SKIP_WITHOUT(kEmptyVars);
  SKIP_WITHOUT(kSnakeoilPem);
  const std::string empty = test::read_text(kEmptyVars);
  const auto enrolment = snakeoil_enrolment(der_of_pem_file(kSnakeoilPem));
  auto first = enroll_secure_boot(empty, enrolment, "empty", kDebianEnrolmentTime);
  auto second = enroll_secure_boot(empty, enrolment, "empty", kDebianEnrolmentTime);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(*first, *second);
  auto other_owner = enrolment;
  other_owner.db.front().owner = tpm::kEfiGlobalVariable;
  auto third = enroll_secure_boot(empty, other_owner, "empty", kDebianEnrolmentTime);
  ASSERT_TRUE(third.has_value());
  EXPECT_NE(*first, *third);
}

TEST(OvmfVarstore, RefusesImagesThatAreNotAnEmptyStore) {
  SKIP_WITHOUT(kEmptyVars);
  SKIP_WITHOUT(kSnakeoilVars);
  SKIP_WITHOUT(kSnakeoilPem);
  const std::string empty = test::read_text(kEmptyVars);
  const auto enrolment = snakeoil_enrolment(der_of_pem_file(kSnakeoilPem));
  auto enroll = [&](std::string image) { return enroll_secure_boot(image, enrolment, "vars.fd"); };

  EXPECT_THAT(test::error_of(enroll(empty.substr(0, 40))), HasSubstr("too short"));
  EXPECT_THAT(test::error_of(enroll(empty.substr(0, 0x40000))),
              HasSubstr("header says 540672 bytes but the image has 262144"));
  EXPECT_THAT(test::error_of(enroll(empty + std::string(4096, '\xff'))),
              HasSubstr("but the image has 544768"));
  EXPECT_THAT(test::error_of(enroll(test::replaced(empty, "_FVH", "_FVX"))),
              HasSubstr("no _FVH signature"));
  std::string bad_checksum = empty;
  bad_checksum[5] = '\x01';  // in the header's ZeroVector
  EXPECT_THAT(test::error_of(enroll(bad_checksum)), HasSubstr("checksum mismatch"));
  EXPECT_THAT(test::error_of(enroll(test::read_text(kSnakeoilVars))),
              HasSubstr("variable store is not empty (57 variable headers, the first CustomMode)"));
  std::string stray = empty;
  stray[0x1000] = '\0';
  EXPECT_THAT(test::error_of(enroll(stray)), HasSubstr("not a variable"));
  std::string unhealthy = empty;
  unhealthy[0x48 + 21] = '\xff';
  EXPECT_THAT(test::error_of(enroll(unhealthy)), HasSubstr("not formatted and healthy"));
  std::string plain = empty;
  plain[0x48] = '\x16';  // gEfiVariableGuid's first byte; the rest differs too
  EXPECT_THAT(test::error_of(enroll(plain)), HasSubstr("unknown variable store"));
}

TEST(OvmfVarstore, RefusesBadEnrolments) {
  SKIP_WITHOUT(kEmptyVars);
  SKIP_WITHOUT(kSnakeoilPem);
  const std::string empty = test::read_text(kEmptyVars);
  const std::string der = der_of_pem_file(kSnakeoilPem);
  auto no_db = snakeoil_enrolment(der);
  no_db.db.clear();
  EXPECT_THAT(test::error_of(enroll_secure_boot(empty, no_db, "vars")),
              HasSubstr("no certificate to enroll in db"));
  auto not_der = snakeoil_enrolment(der);
  not_der.kek.front().der = test::read_text(kSnakeoilPem);
  EXPECT_THAT(test::error_of(enroll_secure_boot(empty, not_der, "vars")),
              HasSubstr("KEK certificate 1 is not a DER X.509 certificate"));
  auto trailing = snakeoil_enrolment(der);
  trailing.pk.der += '\0';
  EXPECT_THAT(test::error_of(enroll_secure_boot(empty, trailing, "vars")),
              HasSubstr("PK certificate 1 is not a DER X.509 certificate"));
  EXPECT_THAT(test::error_of(enroll_secure_boot(empty, snakeoil_enrolment(der), "vars", "2025")),
              HasSubstr("time stamp has 4 bytes, expected 16"));
}

TEST(OvmfVarstore, ReadingACorruptVariableFailsCleanly) {
  SKIP_WITHOUT(kSnakeoilVars);
  const std::string debian = test::read_text(kSnakeoilVars);
  std::string huge_data = debian;
  put_u16(huge_data, kFirstVariable + 40, 0xffff);  // DataSize of the first variable
  huge_data[kFirstVariable + 42] = '\xff';
  huge_data[kFirstVariable + 43] = '\xff';
  EXPECT_THAT(test::error_of(read_variable_store(huge_data, "vars")),
              HasSubstr("variable at offset 100 claims 22 name and 4294967295 data bytes"));
  std::string odd_name = debian;
  odd_name[kFirstVariable + 36] = 21;  // NameSize 22 -> 21
  EXPECT_THAT(test::error_of(read_variable_store(odd_name, "vars")), HasSubstr("malformed name"));
  // A store that claims more than the volume holds.
  std::string big_store = debian;
  big_store[0x48 + 16 + 2] = '\x10';
  EXPECT_THAT(test::error_of(read_variable_store(big_store, "vars")),
              HasSubstr("does not fit the 540672-byte volume"));
}

TEST(OvmfVarstore, AnUpdateCutShortCountsOnlyWithoutANewerCopy) {
  SKIP_WITHOUT(kSnakeoilVars);
  std::string debian = test::read_text(kSnakeoilVars);
  // The first CustomMode (0x64) is deleted (0x3c); a live one follows at the end of the store.
  ASSERT_EQ(debian[kFirstVariable + 2], '\x3c');
  debian[kFirstVariable + 2] = '\x3e';  // added, deletion in transition
  auto variables = read_variable_store(debian, "vars");
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  EXPECT_EQ(std::ranges::count(names_of(*variables), "CustomMode"), 1);
  // BootOrder's last copy (0x3b08) is deleted (0x3d); in transition, with no other live copy,
  // it is live again.
  ASSERT_EQ(debian[0x3b08 + 2], '\x3d');
  debian[0x3b08 + 2] = '\x3e';
  variables = read_variable_store(debian, "vars");
  ASSERT_TRUE(variables.has_value()) << variables.error().message;
  const FirmwareVariable* boot_order = find(*variables, "BootOrder");
  ASSERT_NE(boot_order, nullptr);
  EXPECT_EQ(boot_order->data, std::string("\0\0\1\0\2\0", 6));
}

}  // namespace
}  // namespace mos::boot
