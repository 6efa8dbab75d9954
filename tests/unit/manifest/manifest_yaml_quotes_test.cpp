// An unclosed quote is reported where it opens, not as a missing key at line 1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "manifest/manifest.hpp"

namespace mos::manifest {
namespace {

using testing::HasSubstr;

TEST(ManifestYamlQuotes, AnUnclosedDoubleQuoteIsReportedWhereItOpens) {
  auto m = parse_manifest_yaml(
      "version: 1\nproduct: \"default\nupdate_type: complete\ntargets: []\n", "m.yaml");
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message,
              HasSubstr("m.yaml:2:10: this double-quoted string is never closed"));
}

TEST(ManifestYamlQuotes, AnUnclosedSingleQuoteInATargetIsReportedWhereItOpens) {
  auto m = parse_manifest_yaml(
      "version: 1\nproduct: default\nupdate_type: complete\ntargets:\n  - service_name: 'zot\n"
      "    version: 1.0.0\n",
      "m.yaml");
  ASSERT_FALSE(m);
  EXPECT_THAT(m.error().message,
              HasSubstr("m.yaml:5:19: this single-quoted string is never closed"));
}

TEST(ManifestYamlQuotes, EscapedQuotesInsideClosedStringsAreFine) {
  auto m = parse_manifest_yaml(
      "version: 1\nproduct: 'it''s \"x\"'\nupdate_type: \"com\\\"plete\"\ntargets: []\n", "m.yaml");
  ASSERT_FALSE(m);  // fails later, for a reason that is not the quotes
  EXPECT_THAT(m.error().message, testing::Not(HasSubstr("never closed")));
  EXPECT_THAT(m.error().message, HasSubstr("update_type"));
}

}  // namespace
}  // namespace mos::manifest
