#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sysroot/system_manifest.hpp"
#include "sysroot/uid_allocation.hpp"
#include "sysroot/version_order.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::sysroot;
using test::error_of;
using ::testing::HasSubstr;

namespace {
int cmp(std::string_view a, std::string_view b) {
  auto va = parse_version(a);
  auto vb = parse_version(b);
  EXPECT_TRUE(va) << a;
  EXPECT_TRUE(vb) << b;
  auto c = compare_versions(*va, *vb);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}
}  // namespace

TEST(VersionOrder, SemverPrecedence) {
  EXPECT_EQ(cmp("1.0.0", "1.0.1"), -1);
  EXPECT_EQ(cmp("1.10.0", "1.9.9"), 1);
  EXPECT_EQ(cmp("1.2", "1.2.0"), 0);
  EXPECT_EQ(cmp("v2.0.0", "2.0.0"), 0);
  EXPECT_EQ(cmp("1.0.0-rc.1", "1.0.0"), -1);
  EXPECT_EQ(cmp("1.0.0-alpha", "1.0.0-alpha.1"), -1);
  EXPECT_EQ(cmp("1.0.0-alpha.1", "1.0.0-alpha.beta"), -1);
  EXPECT_EQ(cmp("1.0.0-beta.2", "1.0.0-beta.11"), -1);
  EXPECT_EQ(cmp("1.0.0-rc.1", "1.0.0-beta.11"), 1);
  EXPECT_EQ(cmp("1.0.0+build.5", "1.0.0+build.1"), 0);
  EXPECT_EQ(cmp("1.0.0-99999999999999999999999", "1.0.0-100000000000000000000000"), -1);
}

TEST(VersionOrder, RejectsWhatItCannotOrder) {
  EXPECT_THAT(error_of(parse_version("")), HasSubstr("expected numbers such as 1.2.3"));
  EXPECT_THAT(error_of(parse_version("latest")), HasSubstr("component \"latest\" is not a number"));
  EXPECT_THAT(error_of(parse_version("1..2")), HasSubstr("component \"\" is not a number"));
  EXPECT_THAT(error_of(parse_version("1.x")), HasSubstr("component \"x\" is not a number"));
  EXPECT_THAT(error_of(parse_version("1.0.0-")), HasSubstr("malformed pre-release \"\""));
  EXPECT_THAT(error_of(parse_version("99999999999999999999999.0")),
              HasSubstr("component \"99999999999999999999999\" is not a number"));
}

TEST(VersionOrder, Rfc3339) {
  auto a = parse_rfc3339("2026-11-28T10:00:00+01:00");
  auto b = parse_rfc3339("2026-11-28T09:00:00Z");
  auto c = parse_rfc3339("2026-11-28T09:00:00.5Z");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_LT(*b, *c);
  EXPECT_EQ(b->seconds, 1795856400);
  for (auto bad : {"2026-11-28 09:00:00Z", "2026-02-30T09:00:00Z", "2026-11-28T09:00:00",
                   "2026-11-28T09:00:00Zjunk"})
    EXPECT_THAT(error_of(parse_rfc3339(bad)),
                HasSubstr(fmt::format("\"{}\" is not an RFC 3339 time", bad)));
}

TEST(UidAllocation, DistinctStableAndPersistable) {
  auto first = allocate_uid_ranges({}, {"a", "b", "c"});
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].hostid, kFirstHostId);
  EXPECT_EQ((*first)[1].hostid, kFirstHostId + kRangeSize);
  EXPECT_EQ((*first)[2].hostid, kFirstHostId + 2 * kRangeSize);
  EXPECT_TRUE(check_uid_ranges(*first));
  // "a" goes away, "d" arrives: b and c keep their ranges, d takes the lowest free slot.
  auto second = allocate_uid_ranges(*first, {"b", "c", "d"});
  ASSERT_TRUE(second);
  EXPECT_EQ((*second)[0], (*first)[1]);
  EXPECT_EQ((*second)[1], (*first)[2]);
  EXPECT_EQ((*second)[2].nsgroup, "d");
  EXPECT_EQ((*second)[2].hostid, kFirstHostId);
  auto third = allocate_uid_ranges(*second, {"b", "c", "d", "e"});
  ASSERT_TRUE(third);
  EXPECT_EQ((*third)[3].hostid, kFirstHostId + 3 * kRangeSize);
}

TEST(UidAllocation, OverlapsAreErrors) {
  EXPECT_THAT(error_of(check_uid_ranges({{"a", 100000, 65536}, {"b", 165535, 10}})),
              HasSubstr("uid ranges of nsgroups \"a\" and \"b\" overlap"));
  EXPECT_TRUE(check_uid_ranges({{"a", 100000, 65536}, {"b", 165536, 10}}));
  EXPECT_THAT(error_of(check_uid_ranges({{"a", 0xFFFFFFF0ull, 65536}})),
              HasSubstr("leaves the 32-bit id space"));
  EXPECT_THAT(error_of(allocate_uid_ranges({{"a", 100000, 65536}, {"b", 100001, 1}}, {"a"})),
              HasSubstr("uid ranges of nsgroups \"a\" and \"b\" overlap"));
}

TEST(UidAllocation, NsgroupsFromTargetsAndStorage) {
  manifest::Target t1, t2, t3;
  t1.nsgroup = "c1";
  t2.nsgroup = "none";
  t3.nsgroup = "";
  manifest::StorageItem s;
  s.nsgroup = "data";
  EXPECT_EQ(nsgroups_in_use({t1, t2, t3}, {s}), (std::vector<std::string>{"c1", "data"}));
}

TEST(SystemManifest, RoundTripsAndIsStrict) {
  SystemManifest m;
  m.product = "p";
  std::string sha(64, 'a');
  m.install = {sha + ".json", "oci:/x:1", "2026-11-28T09:00:00Z"};
  m.targets = {{"hostfs", sha + ".json"}};
  m.storage = {{"data", sha + ".json"}};
  m.uidmaps = {{"c1", 100000, 65536}};
  auto text = encode_system_manifest(m);
  auto back = parse_system_manifest(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, m);

  auto with = [&](std::string_view from, std::string_view to) {
    return error_of(parse_system_manifest(test::replaced(text, from, to)));
  };
  // Runtime fields of the original are refused.
  EXPECT_THAT(with("\"install\"", "\"UsedPorts\": {}, \"install\""),
              HasSubstr("unknown key \"UsedPorts\""));
  EXPECT_THAT(with("\"name\": \"hostfs\"", "\"name\": \"hostfs\", \"OCIConfig\": null"),
              HasSubstr("unknown key \"OCIConfig\""));
  EXPECT_THAT(
      with(sha + ".json\"\n    }\n  ],\n  \"storage", "../x.json\"\n    }\n  ],\n  \"storage"),
      HasSubstr("source \"../x.json\" is not <sha256 hex>.json"));
  EXPECT_THAT(with("\"format\": 1", "\"format\": 2"),
              HasSubstr("format 2 is not supported (expected 1)"));
  EXPECT_THAT(with("\"hostid\": 100000", "\"hostid\": -1"), HasSubstr("\"hostid\""));
  EXPECT_THAT(error_of(parse_system_manifest("{\"format\":1,\"format\":1}")),
              HasSubstr("duplicate key \"format\""));
  EXPECT_THAT(error_of(parse_system_manifest("[]")), HasSubstr("expected an object"));
}
