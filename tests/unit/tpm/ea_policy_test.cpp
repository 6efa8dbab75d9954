// The EA policy digests of original-trust.md §9, from the snakeoil PCR7 values.
#include "tpm/ea_policy.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::tpm {
namespace {

using ::testing::HasSubstr;

Sha256 hex(std::string_view text) {
  return *parse_sha256_hex(text, "test value");
}

const Sha256 kProduction = hex("e5936c3e9f1b8f53d1ba5b597ed11ba0d66e29f9558d02c96e99a149b75dada8");
const Sha256 kTpm = hex("254d1d3854f71ad22f7046d037a898a51880415b01ecdc577e242a146116eea0");

TEST(EaPolicy, PasswdPolicyOfTheUkiTpmValue) {
  EXPECT_EQ(to_hex(passwd_policy_digest(kTpm)),
            "661c53997a9fd257a02caa432d5016d0c4f8206cb0bebd8427f820ecf61c4ef2");
}

TEST(EaPolicy, LuksPolicyOfTheUkiProductionValue) {
  auto luks = luks_policy_digest(kProduction);
  ASSERT_TRUE(luks);
  EXPECT_EQ(to_hex(*luks), "0cd1cdf3b39007cf9f006a8e787b04cd451c31d69d5f0ac2aebbdbedf1d714cc");
}

TEST(EaPolicy, WithoutTheWrittenAttributeTheNvNameAndSoTheDigestDiffer) {
  EXPECT_EQ(kEaPolicyVersionAttributes, 0x20060002u);
  std::string unwritten_name =
      nv_index_name(kNvEaPolicyVersion, kEaPolicyVersionAttributes & ~kTpmaNvWritten, 4);
  Sha256 digest =
      policy_nv(policy_pcr7(Sha256{}, kProduction), "0001", 0, kTpmEoEq, unwritten_name);
  EXPECT_TRUE(to_hex(digest).starts_with("124ee277")) << to_hex(digest);
}

TEST(EaPolicy, NvNameAndSelectionLayout) {
  std::string name = nv_index_name(kNvEaPolicyVersion, kEaPolicyVersionAttributes, 4);
  ASSERT_EQ(name.size(), 34u);
  EXPECT_EQ(name.substr(0, 2), std::string("\x00\x0b", 2));
  EXPECT_EQ(pcr7_selection(), std::string("\0\0\0\x01\x00\x0b\x03\x80\0\0", 10));
}

TEST(EaPolicy, PolicyVersionIsFourDigits) {
  EXPECT_TRUE(luks_policy_digest(kProduction, "0002"));
  EXPECT_NE(*luks_policy_digest(kProduction, "0002"), *luks_policy_digest(kProduction));
  for (std::string_view bad : {"1", "00001", "00a1", ""})
    EXPECT_THAT(test::error_of(luks_policy_digest(kProduction, bad)),
                HasSubstr("must be exactly four digits"))
        << bad;
}

TEST(Digest, HexAndRawParsingIsStrict) {
  EXPECT_EQ(to_hex(hex(std::string(64, 'A'))), std::string(64, 'a'));
  EXPECT_THAT(test::error_of(parse_sha256_hex("abc", "--pcr7-tpm")),
              HasSubstr("--pcr7-tpm must be 64 hex digits"));
  EXPECT_THAT(test::error_of(parse_sha256_hex(std::string(63, '0') + "g", "--pcr7-tpm")),
              HasSubstr("found 'g' at position 63"));
  EXPECT_THAT(test::error_of(sha256_from_bytes("short", "pcr.bin")),
              HasSubstr("pcr.bin must hold exactly 32 bytes"));
}

}  // namespace
}  // namespace mos::tpm
