#include "runtime/port_forwards.hpp"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

using testing::HasSubstr;

NetworkRules zot_rules() {
  return NetworkRules{Ipv4Subnet::parse(kDefaultSubnet).value(),
                      {{"zot", 80, parse_ipv4("10.0.3.99").value(), 5000, std::nullopt},
                       {"web", 8080, parse_ipv4("10.0.3.20").value(), 80, std::nullopt}},
                      std::nullopt};
}

// zot with an IPv6 address too.
NetworkRules dual_stack_rules() {
  auto rules = zot_rules();
  rules.forwards[0].address6 = parse_ipv6("fd6d:6f73:3::99").value();
  rules.subnet6 = Ipv6Subnet::parse(kDefaultSubnet6).value();
  return rules;
}

TEST(PortForwards, TheRulesetForwardsEachPortInPreroutingAndOutput) {
  std::string script = nft_ruleset(zot_rules());
  EXPECT_THAT(script, testing::StartsWith("table ip mos\ndelete table ip mos\n"));
  auto line = "fib daddr type local tcp dport 80 dnat to 10.0.3.99:5000 comment \"zot\"";
  auto first = script.find(line);
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(script.find(line, first + 1), std::string::npos) << "output chain too";
  EXPECT_THAT(script, HasSubstr("tcp dport 8080 dnat to 10.0.3.20:80"));
  EXPECT_THAT(script, HasSubstr("ip saddr 10.0.3.0/24 ip daddr != 10.0.3.0/24 masquerade"));
  // No IPv6 service: no ip6 table, but an old one is deleted.
  EXPECT_THAT(script, HasSubstr("table ip6 mos\ndelete table ip6 mos\n"));
  EXPECT_THAT(script, testing::Not(HasSubstr("table ip6 mos {")));
}

TEST(PortForwards, AServiceWithAnIpv6AddressIsForwardedInIpv6Too) {
  std::string script = nft_ruleset(dual_stack_rules());
  EXPECT_THAT(script, HasSubstr("table ip6 mos {"));
  auto line = "fib daddr type local tcp dport 80 dnat to [fd6d:6f73:3::99]:5000 comment \"zot\"";
  auto first = script.find(line);
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(script.find(line, first + 1), std::string::npos) << "output chain too";
  EXPECT_THAT(script,
              HasSubstr("ip6 saddr fd6d:6f73:3::/64 ip6 daddr != fd6d:6f73:3::/64 masquerade"));
  // web has no IPv6 address: IPv4 only.
  EXPECT_EQ(script.find("dport 8080 dnat to ["), std::string::npos);
}

TEST(PortForwards, ConflictsAndBadPortsAreRefused) {
  auto rules = zot_rules();
  rules.forwards.push_back({"other", 80, parse_ipv4("10.0.3.30").value(), 80, std::nullopt});
  EXPECT_THAT(test::error_of(install_rules(rules)),
              HasSubstr("host port 80 is forwarded to both zot and other"));
  EXPECT_THAT(test::error_of(check_forwards({{"x", 0, 1, 80, std::nullopt}})),
              HasSubstr("outside 1-65535"));
}

TEST(PortForwards, InstalledRulesAreListedAndRemovedAsAWhole) {
  std::string result = test::in_own_netns([]() -> Status {
    MOS_TRY(install_rules(zot_rules()));
    MOS_TRY(install_rules(zot_rules()));  // replacing is idempotent
    MOS_TRY_ASSIGN(auto listed, list_rules());
    if (listed.find("dnat to 10.0.3.99:5000") == std::string::npos)
      return fail("the listed table lacks zot's forward: {}", listed);
    MOS_TRY(install_rules(dual_stack_rules()));
    MOS_TRY_ASSIGN(listed, list_rules());
    if (listed.find("dnat to [fd6d:6f73:3::99]:5000") == std::string::npos)
      return fail("the listed tables lack zot's IPv6 forward: {}", listed);
    MOS_TRY(remove_rules());
    if (list_rules()) return fail("the table is still there after remove_rules");
    if (run_nft("list table ip6 mos")) return fail("the ip6 table is still there");
    MOS_TRY(remove_rules());  // nothing to remove is no error
    return {};
  });
  if (result.starts_with("SKIP")) GTEST_SKIP() << result;
  EXPECT_EQ(result, "ok");
}

}  // namespace
}  // namespace mos::runtime
