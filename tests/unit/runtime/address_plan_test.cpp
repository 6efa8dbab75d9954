#include "runtime/address_plan.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

using testing::HasSubstr;

Ipv4Subnet subnet(std::string_view text = kDefaultSubnet) {
  return Ipv4Subnet::parse(text).value();
}

std::uint32_t ip(std::string_view text) {
  return parse_ipv4(text).value();
}

TEST(AddressPlan, ParsesSubnetsStrictly) {
  auto s = subnet("10.0.3.0/24");
  EXPECT_EQ(format_ipv4(s.gateway()), "10.0.3.1");
  EXPECT_EQ(format_ipv4(s.broadcast()), "10.0.3.255");
  EXPECT_TRUE(s.contains(ip("10.0.3.99")));
  EXPECT_FALSE(s.contains(ip("10.0.4.1")));
  EXPECT_THAT(test::error_of(Ipv4Subnet::parse("10.0.3.1/24")),
              HasSubstr("did you mean 10.0.3.0/24"));
  EXPECT_THAT(test::error_of(Ipv4Subnet::parse("10.0.3.0")), HasSubstr("needs a prefix length"));
  EXPECT_THAT(test::error_of(Ipv4Subnet::parse("10.0.3.0/31")), HasSubstr("8-30"));
  EXPECT_THAT(test::error_of(Ipv4Subnet::parse("10.0.3.0/2x")), HasSubstr("8-30"));
  EXPECT_THAT(test::error_of(Ipv4Subnet::parse("10.0.300.0/24")), HasSubstr("not an IPv4"));
}

TEST(AddressPlan, ParsesIpv6SubnetsStrictly) {
  auto s = Ipv6Subnet::parse("fd6d:6f73:3::/64").value();
  EXPECT_EQ(s.str(), "fd6d:6f73:3::/64");
  EXPECT_EQ(format_ipv6(s.gateway()), "fd6d:6f73:3::1");
  EXPECT_TRUE(s.contains(parse_ipv6("fd6d:6f73:3::abcd").value()));
  EXPECT_TRUE(s.contains(parse_ipv6("fd6d:6f73:3:0:ffff::1").value()));
  EXPECT_FALSE(s.contains(parse_ipv6("fd6d:6f73:4::1").value()));
  EXPECT_EQ(Ipv6Subnet::parse("fd00:1:2:3:4::/80").value().str(), "fd00:1:2:3:4::/80");
  EXPECT_FALSE(Ipv6Subnet::parse("fd00:1:2:3:4::/80")
                   .value()
                   .contains(parse_ipv6("fd00:1:2:3:5::1").value()));
  EXPECT_THAT(test::error_of(Ipv6Subnet::parse("fd6d:6f73:3::5/64")),
              HasSubstr("did you mean fd6d:6f73:3::/64"));
  EXPECT_THAT(test::error_of(Ipv6Subnet::parse("fd6d::")), HasSubstr("needs a prefix length"));
  EXPECT_THAT(test::error_of(Ipv6Subnet::parse("fd6d::/127")), HasSubstr("48-120"));
  EXPECT_THAT(test::error_of(Ipv6Subnet::parse("10.0.3.0/24")), HasSubstr("not an IPv6"));
}

TEST(AddressPlan, Ipv6AddressesAreTheManifestsOnly) {
  auto subnet6 = Ipv6Subnet::parse(kDefaultSubnet6).value();
  auto a =
      assign_ipv6_addresses(subnet6, {{"zot", "", "fd6d:6f73:3::99/64"}, {"web", "", ""}}).value();
  EXPECT_EQ(format_ipv6(a.at("zot")), "fd6d:6f73:3::99");
  EXPECT_FALSE(a.contains("web"));
  EXPECT_THAT(test::error_of(assign_ipv6_addresses(subnet6, {{"zot", "", "fd6d:6f73:3::9/80"}})),
              HasSubstr("another prefix"));
  EXPECT_THAT(test::error_of(assign_ipv6_addresses(subnet6, {{"zot", "", "fd6d:6f73:3::1"}})),
              HasSubstr("the network's gateway address"));
  EXPECT_THAT(test::error_of(assign_ipv6_addresses(subnet6, {{"zot", "", "fd6d:6f73:3::"}})),
              HasSubstr("the network's network address"));
  EXPECT_THAT(test::error_of(assign_ipv6_addresses(subnet6, {{"zot", "", "2001:db8::1"}})),
              HasSubstr("service zot: ipv6 2001:db8::1 is outside the machine's network"));
  EXPECT_THAT(test::error_of(assign_ipv6_addresses(
                  subnet6, {{"zot", "", "fd6d:6f73:3::5"}, {"web", "", "fd6d:6f73:3:0::5"}})),
              HasSubstr("ipv6 fd6d:6f73:3::5 is given to both zot and web"));
}

TEST(AddressPlan, TheManifestsAddressWinsAndIsChecked) {
  auto a = assign_addresses(subnet(), {{"zot", "10.0.3.99/24", ""}, {"web", "", ""}}, {}).value();
  EXPECT_EQ(format_ipv4(a.at("zot")), "10.0.3.99");
  EXPECT_NE(a.at("web"), a.at("zot"));
  EXPECT_THAT(test::error_of(assign_addresses(subnet(), {{"zot", "10.0.4.9", ""}}, {})),
              HasSubstr("service zot: ipv4 10.0.4.9 is outside the machine's network 10.0.3.0/24"));
  EXPECT_THAT(test::error_of(assign_addresses(subnet(), {{"zot", "10.0.3.9/16", ""}}, {})),
              HasSubstr("another prefix"));
  EXPECT_THAT(test::error_of(assign_addresses(subnet(), {{"zot", "10.0.3.1", ""}}, {})),
              HasSubstr("the network's gateway address"));
  EXPECT_THAT(test::error_of(assign_addresses(
                  subnet(), {{"a", "10.0.3.7", ""}, {"b", "10.0.3.7/24", ""}}, {})),
              HasSubstr("ipv4 10.0.3.7 is given to both a and b"));
}

TEST(AddressPlan, DerivedAddressesAreStableAndIndependentOfOrder) {
  auto one = assign_addresses(subnet(), {{"a", "", ""}, {"b", "", ""}, {"c", "", ""}}, {}).value();
  auto two = assign_addresses(subnet(), {{"c", "", ""}, {"a", "", ""}, {"b", "", ""}}, {}).value();
  EXPECT_EQ(one, two);
  for (const auto& [name, address] : one) {
    EXPECT_TRUE(subnet().contains(address)) << name;
    EXPECT_NE(address, subnet().gateway()) << name;
  }
}

TEST(AddressPlan, WhatWasHandedOutIsKeptWhenANewServiceWouldTakeIt) {
  auto before = assign_addresses(subnet(), {{"web", "", ""}}, {}).value();
  // A new service whose own address is web's old one: web keeps it (remembered), the new one
  // moves on.
  auto after = assign_addresses(
      subnet(), {{"new", format_ipv4(before.at("web")), ""}, {"web", "", ""}}, before);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->at("new"), before.at("web"));  // the manifest's word wins
  EXPECT_NE(after->at("web"), before.at("web"));
  auto kept = assign_addresses(subnet(), {{"zzz", "", ""}, {"web", "", ""}}, before).value();
  EXPECT_EQ(kept.at("web"), before.at("web"));
}

TEST(AddressPlan, AFullNetworkIsRefused) {
  std::vector<AddressRequest> many;
  for (int i = 0; i < 5; ++i) many.push_back({"s" + std::to_string(i), "", ""});
  EXPECT_TRUE(assign_addresses(subnet("10.9.0.0/29"), {many.begin(), many.begin() + 5}, {}));
  many.push_back({"s5", "", ""});
  EXPECT_THAT(test::error_of(assign_addresses(subnet("10.9.0.0/29"), many, {})),
              HasSubstr("no address left for service"));
}

}  // namespace
}  // namespace mos::runtime
