#include "sysroot/system_plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::sysroot;
using test::error_of;
using ::testing::HasSubstr;

namespace {

manifest::Target make_target(std::string name, std::string version, std::string nsgroup = "") {
  manifest::Target t;
  t.service_name = std::move(name);
  t.version = std::move(version);
  t.service_type = manifest::ServiceType::fs_only;
  t.nsgroup = std::move(nsgroup);
  t.digest = oci::digest_of(t.service_name + t.version);
  t.size = 100;
  return t;
}

// A verified install manifest as plan_* receive it (the crypto is checked elsewhere).
IncomingInstall incoming(std::vector<manifest::Target> targets, manifest::UpdateType type,
                         std::optional<std::string> created = std::nullopt,
                         std::vector<manifest::StorageItem> storage = {},
                         std::string product = "p") {
  IncomingInstall in;
  in.triple.manifest.product = std::move(product);
  in.triple.manifest.update_type = type;
  in.triple.manifest.targets = std::move(targets);
  in.triple.manifest.storage = std::move(storage);
  std::string bytes;
  for (const auto& t : in.triple.manifest.targets) bytes += t.service_name + t.version;
  bytes += created.value_or("");
  in.triple.files.install_json = bytes;
  in.triple.source = source_name(bytes);
  in.reference = "oci:x:" + bytes;
  in.created = std::move(created);
  return in;
}

// The installed system a plan describes (as load_system would return it).
InstalledSystem installed(const PlannedSystem& plan, const std::vector<IncomingInstall>& from) {
  InstalledSystem s;
  s.commit = "c";
  s.record = plan.record;
  for (const auto& in : from) s.sources.emplace(in.triple.source, in.triple);
  for (const auto& t : plan.record.targets)
    s.targets.push_back({*s.sources.at(t.source).manifest.find_target(t.name), t.source});
  for (const auto& st : plan.record.storage)
    for (const auto& item : s.sources.at(st.source).manifest.storage)
      if (item.label == st.name) s.storage.push_back({item, st.source});
  return s;
}

manifest::StorageItem volume(std::string label, std::string nsgroup) {
  manifest::StorageItem s;
  s.label = std::move(label);
  s.nsgroup = std::move(nsgroup);
  s.size_mib = 1;
  return s;
}

}  // namespace

TEST(SystemPlan, InstallNeedsACompleteManifestAndAllocatesRanges) {
  auto in =
      incoming({make_target("hostfs", "1.0.0"), make_target("svc", "1.0.0", "c1")},
               manifest::UpdateType::complete, "2026-01-01T00:00:00Z", {volume("data", "d1")});
  auto plan = plan_install(in);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->record.product, "p");
  EXPECT_EQ(plan->record.targets.size(), 2u);
  EXPECT_EQ(plan->record.uidmaps,
            (std::vector<UidRange>{{"c1", 100000, 65536}, {"d1", 165536, 65536}}));
  EXPECT_EQ(plan->triples.size(), 1u);
  EXPECT_THAT(
      error_of(plan_install(incoming({make_target("a", "1")}, manifest::UpdateType::partial))),
      HasSubstr("is a partial update; a first install needs a complete"));
}

TEST(SystemPlan, PartialKeepsUnnamedTargetsWithTheirSourceAndRanges) {
  auto first = incoming({make_target("hostfs", "1.0.0"), make_target("svc", "1.0.0", "c1")},
                        manifest::UpdateType::complete, std::nullopt, {volume("data", "d1")});
  auto base = installed(*plan_install(first), {first});
  auto partial = incoming({make_target("svc", "1.1.0", "c2"), make_target("extra", "1.0.0", "c1")},
                          manifest::UpdateType::partial);
  auto plan = plan_update(base, partial, false);
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->record.targets.size(), 3u);
  EXPECT_EQ(plan->record.targets[0], (SourcedName{"hostfs", first.triple.source}));
  EXPECT_EQ(plan->record.targets[1], (SourcedName{"svc", partial.triple.source}));
  EXPECT_EQ(plan->record.storage, (std::vector<SourcedName>{{"data", first.triple.source}}));
  // c1 (still used by extra) and d1 keep their ranges; c2 takes the next free one.
  EXPECT_EQ(
      plan->record.uidmaps,
      (std::vector<UidRange>{{"c1", 100000, 65536}, {"c2", 231072, 65536}, {"d1", 165536, 65536}}));
  EXPECT_EQ(plan->triples.size(), 2u);
}

TEST(SystemPlan, CompleteReplacesEverything) {
  auto first = incoming({make_target("hostfs", "1.0.0"), make_target("svc", "1.0.0", "c1")},
                        manifest::UpdateType::complete, std::nullopt, {volume("data", "d1")});
  auto base = installed(*plan_install(first), {first});
  auto next = incoming({make_target("hostfs", "2.0.0")}, manifest::UpdateType::complete);
  auto plan = plan_update(base, next, false);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->record.targets, (std::vector<SourcedName>{{"hostfs", next.triple.source}}));
  EXPECT_TRUE(plan->record.storage.empty());
  EXPECT_TRUE(plan->record.uidmaps.empty());
  EXPECT_EQ(plan->triples.size(), 1u);
}

TEST(SystemPlan, AntiRollback) {
  auto first = incoming({make_target("hostfs", "1.2.0")}, manifest::UpdateType::complete,
                        "2026-02-01T00:00:00Z");
  auto base = installed(*plan_install(first), {first});
  auto lower = incoming({make_target("hostfs", "1.2.0-rc.1")}, manifest::UpdateType::complete,
                        "2026-03-01T00:00:00Z");
  auto refused = plan_update(base, lower, false);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("down to 1.2.0-rc.1"));
  auto allowed = plan_update(base, lower, true);
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->downgrades.size(), 1u);

  auto older = incoming({make_target("hostfs", "1.3.0")}, manifest::UpdateType::complete,
                        "2026-01-31T23:00:00-02:00");
  EXPECT_TRUE(plan_update(base, older, false));  // 2026-02-01T01:00Z: later
  auto stale = incoming({make_target("hostfs", "1.3.0")}, manifest::UpdateType::complete,
                        "2026-01-31T23:00:00Z");
  EXPECT_THAT(error_of(plan_update(base, stale, false)),
              HasSubstr("created at 2026-01-31T23:00:00Z, before the installed one"));
  EXPECT_TRUE(plan_update(base, stale, true));
  auto garbled =
      incoming({make_target("hostfs", "1.3.0")}, manifest::UpdateType::complete, "yesterday");
  EXPECT_THAT(error_of(plan_update(base, garbled, false)),
              HasSubstr("creation time cannot be ordered"));
  auto undated = incoming({make_target("hostfs", "1.3.0")}, manifest::UpdateType::complete);
  EXPECT_TRUE(plan_update(base, undated, false));
  auto unordered = incoming({make_target("hostfs", "latest")}, manifest::UpdateType::complete);
  EXPECT_THAT(error_of(plan_update(base, unordered, false)),
              HasSubstr("versions 1.2.0 and latest cannot be ordered"));
  // A new target has nothing to be lower than.
  auto added = incoming({make_target("other", "0.0.1")}, manifest::UpdateType::partial);
  EXPECT_TRUE(plan_update(base, added, false));
}

TEST(SystemPlan, ProductMustMatchAndTheMergeMustValidate) {
  auto first = incoming({make_target("hostfs", "1.0.0")}, manifest::UpdateType::complete);
  auto base = installed(*plan_install(first), {first});
  auto other = incoming({make_target("hostfs", "2.0.0")}, manifest::UpdateType::complete,
                        std::nullopt, {}, "q");
  EXPECT_THAT(error_of(plan_update(base, other, true)),
              HasSubstr("is for product q, but the installed system is product p"));
  // A partial update adding a second hostfs target makes an invalid system.
  auto second_hostfs = make_target("root2", "1.0.0");
  second_hostfs.service_type = manifest::ServiceType::hostfs;
  auto first_hostfs = make_target("hostfs", "1.0.0");
  first_hostfs.service_type = manifest::ServiceType::hostfs;
  auto a = incoming({first_hostfs}, manifest::UpdateType::complete);
  auto with_hostfs = installed(*plan_install(a), {a});
  EXPECT_THAT(error_of(plan_update(
                  with_hostfs, incoming({second_hostfs}, manifest::UpdateType::partial), false)),
              HasSubstr("only one target may have service_type hostfs"));
}
