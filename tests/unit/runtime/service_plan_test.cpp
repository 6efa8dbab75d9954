#include "runtime/service_plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

manifest::Target target(std::string name, manifest::ServiceType type, std::string nsgroup,
                        std::string version = "1.0.0") {
  manifest::Target t;
  t.service_name = std::move(name);
  t.service_type = type;
  t.nsgroup = std::move(nsgroup);
  t.version = std::move(version);
  t.digest = oci::digest_of(t.service_name + t.version);
  t.size = 1;
  return t;
}

image::ImageConfigFields runs(std::string program) {
  image::ImageConfigFields c;
  c.entrypoint = std::vector<std::string>{std::move(program)};
  return c;
}

// The walkthrough's zot, a busybox httpd in another nsgroup, an fs-only target, the hostfs.
SystemParts walkthrough_system() {
  SystemParts s;
  auto zot = target("zot", manifest::ServiceType::container, "zot");
  zot.network.type = manifest::NetworkType::simple;
  zot.network.ipv4 = "10.0.3.99/24";
  zot.network.ports = {{80, 5000}};
  zot.storage = {{"/var/lib/zot", "data"}};
  auto web = target("web", manifest::ServiceType::container, "web");
  web.network.type = manifest::NetworkType::simple;
  web.network.ports = {{8080, 80}};
  s.targets = {target("hostfs", manifest::ServiceType::hostfs, ""), zot, web,
               target("tools", manifest::ServiceType::fs_only, "")};
  s.storage = {{"data", true, "zot", 16}};
  s.uidmaps = {{"web", 165536, 65536}, {"zot", 100000, 65536}};
  s.configs = {{"zot", runs("/usr/bin/start-zot")}, {"web", runs("/bin/httpd")}};
  return s;
}

Ipv4Subnet default_subnet() {
  return Ipv4Subnet::parse(kDefaultSubnet).value();
}

Ipv6Subnet default_subnet6() {
  return Ipv6Subnet::parse(kDefaultSubnet6).value();
}

TEST(ServicePlan, ServicesVolumesAddressesAndForwards) {
  auto plan = plan_boot(walkthrough_system(), default_subnet(), default_subnet6(), {}).value();
  ASSERT_EQ(plan.services.size(), 3u);  // hostfs is the boot chain's
  const auto& zot = plan.services[0];
  EXPECT_EQ(zot.name, "zot");
  EXPECT_EQ(format_ipv4(*zot.address), "10.0.3.99");
  ASSERT_TRUE(zot.ids);
  EXPECT_EQ(zot.ids->hostid, 100000u);
  EXPECT_THAT(zot.forwards, ElementsAre(PortForward{"zot", 80, *zot.address, 5000, std::nullopt}));
  EXPECT_FALSE(zot.address6);
  EXPECT_FALSE(plan.subnet6) << "no service has an IPv6 address";
  EXPECT_EQ(plan.services[1].ids->hostid, 165536u);
  EXPECT_TRUE(plan.services[1].address);
  EXPECT_EQ(plan.services[2].type, manifest::ServiceType::fs_only);
  EXPECT_FALSE(plan.services[2].ids);
  ASSERT_EQ(plan.volumes.size(), 1u);
  EXPECT_EQ(plan.volumes[0].ids->hostid, 100000u);
  EXPECT_EQ(plan.addresses.size(), 2u);
}

TEST(ServicePlan, AddressesHandedOutBeforeAreKept) {
  auto first = plan_boot(walkthrough_system(), default_subnet(), default_subnet6(), {}).value();
  auto again =
      plan_boot(walkthrough_system(), default_subnet(), default_subnet6(), first.addresses).value();
  EXPECT_EQ(again.addresses, first.addresses);
}

TEST(ServicePlan, WhatCannotRunIsRefusedWithTheReason) {
  auto s = walkthrough_system();
  s.uidmaps.pop_back();
  EXPECT_THAT(test::error_of(plan_boot(s, default_subnet(), default_subnet6(), {})),
              HasSubstr("nsgroup zot has no uid range"));
  s = walkthrough_system();
  s.configs["web"] = {};
  EXPECT_THAT(test::error_of(plan_boot(s, default_subnet(), default_subnet6(), {})),
              HasSubstr("service web: its image has neither Entrypoint nor Cmd"));
  s = walkthrough_system();
  s.targets[2].network.ports = {{80, 80}};
  EXPECT_THAT(test::error_of(plan_boot(s, default_subnet(), default_subnet6(), {})),
              HasSubstr("host port 80 is forwarded to both zot and web"));
  EXPECT_THAT(
      test::error_of(plan_boot(walkthrough_system(), Ipv4Subnet::parse("10.9.0.0/24").value(),
                               default_subnet6(), {})),
      HasSubstr("ipv4 10.0.3.99/24 is outside the machine's network 10.9.0.0/24"));
}

TEST(ServicePlan, AnUpdateRestartsExactlyWhatChanged) {
  auto before = plan_boot(walkthrough_system(), default_subnet(), default_subnet6(), {}).value();
  auto system = walkthrough_system();
  system.targets[1] = target("zot", manifest::ServiceType::container, "zot", "1.0.1");
  system.targets[1].network = walkthrough_system().targets[1].network;
  system.targets[1].storage = walkthrough_system().targets[1].storage;
  system.targets.pop_back();  // tools is gone
  auto after = plan_boot(system, default_subnet(), default_subnet6(), before.addresses).value();
  auto change = compare_plans(before, after);
  EXPECT_THAT(change.stop, ElementsAre("zot", "tools"));
  EXPECT_THAT(change.start, ElementsAre("zot"));
  EXPECT_TRUE(compare_plans(after, after).start.empty());
}

TEST(ServicePlan, AnIpv6AddressIsTheManifestsAndIsForwardedToo) {
  auto system = walkthrough_system();
  system.targets[1].network.ipv6 = "fd6d:6f73:3::99/64";
  auto plan = plan_boot(system, default_subnet(), default_subnet6(), {}).value();
  const auto& zot = plan.services[0];
  ASSERT_TRUE(zot.address6);
  EXPECT_EQ(format_ipv6(*zot.address6), "fd6d:6f73:3::99");
  ASSERT_EQ(zot.forwards.size(), 1u);
  EXPECT_EQ(zot.forwards[0].address6, zot.address6);
  EXPECT_FALSE(plan.services[1].address6) << "web names none";
  ASSERT_TRUE(plan.subnet6);
  EXPECT_EQ(plan.subnet6->str(), "fd6d:6f73:3::/64");
  // A changed IPv6 address restarts the service.
  auto before = plan_boot(walkthrough_system(), default_subnet(), default_subnet6(), {}).value();
  EXPECT_THAT(compare_plans(before, plan).start, ElementsAre("zot"));
  // Outside the machine's IPv6 network, or twice: refused, naming the service(s).
  EXPECT_THAT(test::error_of(plan_boot(system, default_subnet(),
                                       Ipv6Subnet::parse("fd00:1::/64").value(), {})),
              HasSubstr("service zot: ipv6 fd6d:6f73:3::99/64 is outside the machine's network "
                        "fd00:1::/64"));
  system.targets[2].network.ipv6 = "fd6d:6f73:3::99";
  EXPECT_THAT(test::error_of(plan_boot(system, default_subnet(), default_subnet6(), {})),
              HasSubstr("ipv6 fd6d:6f73:3::99 is given to both zot and web"));
}

}  // namespace
}  // namespace mos::runtime
