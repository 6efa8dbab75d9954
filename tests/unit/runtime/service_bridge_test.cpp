#include "runtime/service_bridge.hpp"

#include <net/if.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "core/process.hpp"
#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

TEST(ServiceBridge, InterfaceNamesAreChecked) {
  EXPECT_TRUE(check_interface_name("mosbr0"));
  EXPECT_TRUE(check_interface_name("br-services_1.2"));
  EXPECT_THAT(test::error_of(check_interface_name("a-bridge-too-long")),
              HasSubstr("bridge name \"a-bridge-too-long\" has 17 characters; Linux interface "
                        "names have at most 15"));
  EXPECT_THAT(test::error_of(check_interface_name("")), HasSubstr("empty"));
  EXPECT_THAT(test::error_of(check_interface_name("../all")), HasSubstr("only letters"));
  EXPECT_THAT(test::error_of(check_interface_name("br 0")), HasSubstr("only letters"));
  EXPECT_THAT(test::error_of(check_interface_name("-br")), HasSubstr("not a usable"));
  // Refused before anything is touched.
  EXPECT_THAT(test::error_of(bring_up_bridge({.name = "mos-bridge-of-services"})),
              HasSubstr("at most 15"));
}

Result<std::string> ip(std::vector<std::string> args) {
  ProcessRun run;
  run.argv = {"ip"};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  return run_checked(run);
}

Result<std::string> sysctl(const std::string& name) {
  MOS_TRY_ASSIGN(auto text, read_file(fs::path("/proc/sys/net/ipv4") / name, 64));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// /proc files are written in place (no temp file and rename there).
Status set_proc(const char* path, const char* value) {
  FILE* f = std::fopen(path, "w");
  if (!f) return fail("cannot open {}", path);
  bool written = std::fputs(value, f) >= 0;
  if (std::fclose(f) != 0 || !written) return fail("cannot write {}", path);
  return {};
}

Status set_ip_forward(const char* value) {
  return set_proc("/proc/sys/net/ipv4/ip_forward", value);
}

constexpr const char* kIpv6Forwarding = "/proc/sys/net/ipv6/conf/all/forwarding";

Status expect_equal(const std::string& what, const std::string& got, const std::string& want) {
  if (got != want) return fail("{}: got \"{}\", want \"{}\"", what, got, want);
  return {};
}

// The bridge's IPv4 addresses as "A/P", its flags and operstate, as `ip -j addr show` gives them.
struct Shown {
  std::vector<std::string> inet;
  std::vector<std::string> flags;
  std::string operstate;
};

Result<Shown> show(const std::string& name) {
  MOS_TRY_ASSIGN(auto out, ip({"-j", "addr", "show", "dev", name}));
  MOS_TRY_ASSIGN(auto json, parse_json_strict(out, "ip -j addr show"));
  if (!json.is_array() || json.size() != 1) return fail("ip showed {}", out);
  Shown shown;
  for (const auto& a : json[0].value("addr_info", Json::array()))
    if (a.value("family", "") == "inet")
      shown.inet.push_back(fmt::format("{}/{}", a.value("local", ""), a.value("prefixlen", 0)));
  for (const auto& f : json[0].value("flags", Json::array())) shown.flags.push_back(f);
  shown.operstate = json[0].value("operstate", "");
  return shown;
}

Status expect_up(const BridgeSpec& spec) {
  MOS_TRY_ASSIGN(auto shown, show(spec.name));
  if (shown.inet != std::vector<std::string>{"10.0.3.1/24"})
    return fail("the bridge has the addresses {}", fmt::join(shown.inet, ", "));
  if (std::ranges::find(shown.flags, "UP") == shown.flags.end())
    return fail("the bridge is not up: {}", fmt::join(shown.flags, ","));
  MOS_TRY_ASSIGN(auto localnet, sysctl("conf/mosbr0/route_localnet"));
  MOS_TRY(expect_equal("route_localnet", localnet, "1"));
  MOS_TRY_ASSIGN(auto forward, sysctl("ip_forward"));
  MOS_TRY(expect_equal("ip_forward while up", forward, "1"));
  return {};
}

Status expect_gone(const BridgeSpec& spec, const std::string& ip_forward) {
  if (::if_nametoindex(spec.name.c_str()) != 0) return fail("the bridge is still there");
  MOS_TRY_ASSIGN(auto forward, sysctl("ip_forward"));
  MOS_TRY(expect_equal("ip_forward after", forward, ip_forward));
  if (fs::exists(spec.saved_ip_forward)) return fail("the saved ip_forward is still there");
  return {};
}

BridgeSpec spec_in(const fs::path& dir) {
  return {.subnet = Ipv4Subnet::parse(kDefaultSubnet).value(),
          .saved_ip_forward = dir / "run" / "ip_forward",
          .saved_ipv6_forwarding = dir / "run" / "ipv6_forwarding"};
}

Result<std::string> ipv6_forwarding() {
  MOS_TRY_ASSIGN(auto text, read_file(kIpv6Forwarding, 64));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

void expect_ok(const std::string& result) {
  if (result.starts_with("SKIP")) GTEST_SKIP() << result;
  EXPECT_EQ(result, "ok");
}

TEST(ServiceBridge, IsBroughtUpAndTornDown) {
  auto dir = TempDir::create().value();
  expect_ok(test::in_own_netns([&]() -> Status {
    auto spec = spec_in(dir.path());
    MOS_TRY(set_ip_forward("0"));
    MOS_TRY_ASSIGN(auto up, bring_up_bridge(spec));
    MOS_TRY(expect_equal("ip_forward before", up.ip_forward_before, "0"));
    MOS_TRY(expect_up(spec));
    // A port attached as LXC attaches a service's veth carries the bridge's link up.
    MOS_TRY(ip({"link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b"}));
    MOS_TRY(ip({"link", "set", "dev", "veth-a", "master", "mosbr0", "up"}));
    MOS_TRY(ip({"link", "set", "dev", "veth-b", "up"}));
    // The kernel carries the port's carrier to the bridge asynchronously (linkwatch): wait for it,
    // within a bound far above its usual milliseconds.
    Shown shown;
    for (int tries = 0; tries < 200; ++tries) {
      MOS_TRY_ASSIGN(shown, show(spec.name));
      if (shown.operstate == "UP") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    MOS_TRY(expect_equal("operstate with a port", shown.operstate, "UP"));
    MOS_TRY(tear_down_bridge(spec, up));
    MOS_TRY(expect_gone(spec, "0"));
    MOS_TRY(tear_down_bridge(spec, up));  // nothing left to remove is no error
    return {};
  }));
}

TEST(ServiceBridge, ALeftoverOfACrashIsAdoptedAndTheFirstIpForwardRestored) {
  auto dir = TempDir::create().value();
  expect_ok(test::in_own_netns([&]() -> Status {
    auto spec = spec_in(dir.path());
    MOS_TRY(set_ip_forward("0"));
    MOS_TRY(bring_up_bridge(spec));
    // The boot dies here; the bridge stays, with an address somebody added meanwhile.
    MOS_TRY(ip({"addr", "add", "192.168.77.1/24", "dev", "mosbr0"}));
    MOS_TRY_ASSIGN(auto up, bring_up_bridge(spec));
    MOS_TRY(expect_equal("ip_forward before, after a crash", up.ip_forward_before, "0"));
    MOS_TRY(expect_up(spec));
    // It dies again; the cleanup has no BridgeUp but finds the saved value.
    MOS_TRY(tear_down_bridge(spec, {}));
    MOS_TRY(expect_gone(spec, "0"));
    return {};
  }));
}

TEST(ServiceBridge, Ipv6GetsTheGatewayAndItsForwardingIsPutBackEvenAfterACrash) {
  auto dir = TempDir::create().value();
  expect_ok(test::in_own_netns([&]() -> Status {
    if (!fs::exists(kIpv6Forwarding)) return fail("SKIP: this kernel has no IPv6");
    auto spec = spec_in(dir.path());
    MOS_TRY(set_proc(kIpv6Forwarding, "0"));
    MOS_TRY_ASSIGN(auto up, bring_up_bridge(spec));
    MOS_TRY(enable_bridge_ipv6(spec, Ipv6Subnet::parse(kDefaultSubnet6).value(), up));
    MOS_TRY(expect_equal("IPv6 forwarding before", up.ipv6_forwarding_before, "0"));
    MOS_TRY_ASSIGN(auto forwarding, ipv6_forwarding());
    MOS_TRY(expect_equal("IPv6 forwarding while up", forwarding, "1"));
    MOS_TRY_ASSIGN(auto out, ip({"-6", "-j", "addr", "show", "dev", "mosbr0"}));
    auto at = out.find("\"local\":\"fd6d:6f73:3::1\",\"prefixlen\":64");
    if (at == std::string::npos) return fail("the bridge lacks its IPv6 gateway: {}", out);
    auto gateway = out.substr(at, out.find('}', at) - at);
    if (gateway.find("tentative") != std::string::npos)
      return fail("the gateway waits for duplicate detection: {}", gateway);
    // The boot dies; the cleanup has no BridgeUp but finds the saved value.
    MOS_TRY(tear_down_bridge(spec, {}));
    MOS_TRY_ASSIGN(forwarding, ipv6_forwarding());
    MOS_TRY(expect_equal("IPv6 forwarding after", forwarding, "0"));
    if (fs::exists(spec.saved_ipv6_forwarding)) return fail("the saved value is still there");
    return {};
  }));
}

TEST(ServiceBridge, WithoutASavedValueTheCurrentOneIsRestored) {
  expect_ok(test::in_own_netns([&]() -> Status {
    BridgeSpec spec{.name = "br-test", .subnet = Ipv4Subnet::parse("10.9.0.0/16").value()};
    MOS_TRY(set_ip_forward("1"));
    MOS_TRY_ASSIGN(auto up, bring_up_bridge(spec));
    MOS_TRY_ASSIGN(auto shown, show(spec.name));
    if (shown.inet != std::vector<std::string>{"10.9.0.1/16"})
      return fail("the bridge has the addresses {}", fmt::join(shown.inet, ", "));
    MOS_TRY(expect_equal("ip_forward before", up.ip_forward_before, "1"));
    MOS_TRY(tear_down_bridge(spec, up));
    MOS_TRY_ASSIGN(auto forward, sysctl("ip_forward"));
    return expect_equal("ip_forward after", forward, "1");
  }));
}

TEST(ServiceBridge, AnotherKindOfInterfaceOfTheNameIsLeftAlone) {
  auto dir = TempDir::create().value();
  expect_ok(test::in_own_netns([&]() -> Status {
    auto spec = spec_in(dir.path());
    MOS_TRY(set_ip_forward("0"));
    MOS_TRY(ip({"link", "add", "mosbr0", "type", "veth", "peer", "name", "other"}));
    auto up = bring_up_bridge(spec);
    if (up) return fail("a veth named mosbr0 was taken for the bridge");
    MOS_TRY(expect_equal("the error", up.error().message,
                         "interface mosbr0 exists and is not a bridge (veth): refusing to use or "
                         "delete it"));
    auto down = tear_down_bridge(spec, {});
    if (down) return fail("tear_down_bridge deleted a veth");
    if (::if_nametoindex("mosbr0") == 0) return fail("the veth is gone");
    MOS_TRY_ASSIGN(auto forward, sysctl("ip_forward"));
    return expect_equal("ip_forward, untouched", forward, "0");
  }));
}

}  // namespace
}  // namespace mos::runtime
