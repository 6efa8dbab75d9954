#include "runtime/container_config.hpp"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using testing::HasSubstr;
using testing::Not;

ServiceSpec web() {
  ServiceSpec s{.name = "web",
                .version = "1.0.0",
                .digest = oci::digest_of("web"),
                .type = manifest::ServiceType::container,
                .ids = sysroot::UidRange{"web", 100000, 65536},
                .network = manifest::NetworkType::simple,
                .address = *parse_ipv4("10.0.3.7"),
                .address6 = std::nullopt,
                .forwards = {},
                .storage = {},
                .config = {}};
  s.config.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
  s.config.cmd = std::vector<std::string>{"echo 'a b'; exec httpd -f"};
  s.config.env = {"PATH=/bin", "GREETING=hello world"};
  s.config.workdir = "/www";
  s.storage = {{"/data", "data"}};
  return s;
}

ContainerPlace place() {
  ContainerPlace p;
  p.rootfs = "/run/mos/boot/x/rootfs/web";
  p.lxc_log = "/run/mos/boot/x/lxc/web.lxc.log";
  p.seccomp = "/run/mos/boot/x/lxc/seccomp.policy";
  p.subnet = *Ipv4Subnet::parse("10.0.3.0/24");
  p.subnet6 = *Ipv6Subnet::parse("fd6d:6f73:3::/64");
  p.volumes = {{"data", "/run/mos/boot/x/volumes/data"}};
  p.run_id = "x";
  return p;
}

TEST(ContainerConfig, AnUnprivilegedServiceOnTheSimpleNetwork) {
  auto launch = container_launch(web(), place(), UserIds{33, 33});
  ASSERT_TRUE(launch) << launch.error().message;
  const auto& c = launch->config;
  EXPECT_THAT(c, HasSubstr("lxc.rootfs.path = dir:/run/mos/boot/x/rootfs/web\n"));
  EXPECT_THAT(c, HasSubstr("lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"));
  EXPECT_THAT(c, HasSubstr("lxc.net.0.type = veth\nlxc.net.0.link = mosbr0\n"));
  EXPECT_THAT(
      c, HasSubstr("lxc.net.0.hwaddr = 02:6d:73:00:03:07\nlxc.net.0.ipv4.address = 10.0.3.7/24\n"));
  EXPECT_THAT(c, HasSubstr("lxc.net.0.ipv4.gateway = 10.0.3.1\n"));
  EXPECT_THAT(c, Not(HasSubstr("ipv6"))) << "the manifest names no IPv6 address";
  EXPECT_THAT(c, HasSubstr("lxc.mount.entry = /run/mos/boot/x/volumes/data data none "
                           "bind,create=dir 0 0\n"));
  EXPECT_THAT(c, HasSubstr("lxc.init.uid = 33\nlxc.init.gid = 33\nlxc.init.cwd = /www\n"));
  EXPECT_THAT(c, HasSubstr("lxc.environment = GREETING=hello world\n"));
  EXPECT_THAT(c, HasSubstr("lxc.cap.drop = mac_admin mac_override sys_time sys_module sys_rawio"));
  // Names boot finds again at the container's end (container_teardown.hpp): the host's veth after
  // the address, as the MAC; the cgroups after the boot's run directory and the service.
  EXPECT_THAT(c, HasSubstr("lxc.net.0.veth.pair = mosv000307\n"));
  EXPECT_THAT(c, HasSubstr("lxc.cgroup.dir.container = mos.payload.x.web\n"
                           "lxc.cgroup.dir.monitor = mos.monitor.x.web\n"));
  // No AppArmor on the machine (boot resolved the profile to none): no line at all, and never the
  // original's "unchanged" unless asked.
  EXPECT_THAT(c, Not(HasSubstr("apparmor")));
  auto confined = place();
  confined.apparmor_profile = "generated";
  auto generated = container_launch(web(), confined, UserIds{33, 33});
  ASSERT_TRUE(generated) << generated.error().message;
  EXPECT_THAT(generated->config, HasSubstr("lxc.apparmor.profile = generated\n"));
  // What the original did and we do not.
  EXPECT_THAT(c, Not(HasSubstr("TRACE")));
  // An unprivileged container needs no device list of its own.
  EXPECT_THAT(c, Not(HasSubstr("devices")));
  // The command is an argv, exactly: no shell re-quoting.
  EXPECT_EQ(launch->argv, (std::vector<std::string>{"/bin/sh", "-c", "echo 'a b'; exec httpd -f"}));
}

TEST(ContainerConfig, AnIpv6AddressBesideTheIpv4One) {
  auto service = web();
  service.address6 = *parse_ipv6("fd6d:6f73:3::7");
  auto launch = container_launch(service, place(), UserIds{33, 33});
  ASSERT_TRUE(launch) << launch.error().message;
  EXPECT_THAT(launch->config, HasSubstr("lxc.net.0.ipv4.gateway = 10.0.3.1\n"
                                        "lxc.net.0.ipv6.address = fd6d:6f73:3::7/64\n"
                                        "lxc.net.0.ipv6.gateway = fd6d:6f73:3::1\n"));
}

TEST(ContainerConfig, HostIdsGetLxcsDeviceListAndNetworksMapToLxcTypes) {
  auto s = web();
  s.ids.reset();
  s.network = manifest::NetworkType::host;
  auto launch = container_launch(s, place(), {});
  ASSERT_TRUE(launch) << launch.error().message;
  EXPECT_THAT(launch->config, Not(HasSubstr("lxc.idmap")));
  EXPECT_THAT(launch->config, HasSubstr("lxc.cgroup2.devices.deny = a\n"));
  EXPECT_THAT(launch->config, HasSubstr("lxc.net.0.type = none\n"));
  s.network = manifest::NetworkType::none;
  launch = container_launch(s, place(), {});
  ASSERT_TRUE(launch);
  EXPECT_THAT(launch->config, HasSubstr("lxc.net.0.type = empty\n"));
}

TEST(ContainerConfig, RefusesWhatLxcWouldReadWrongly) {
  auto s = web();
  s.config.env.push_back("BAD=one\nlxc.idmap = u 0 0 1");
  EXPECT_THAT(error_of(container_launch(s, place(), {})), HasSubstr("line break"));
  s = web();
  s.storage = {{"/data/../../etc", "data"}};
  EXPECT_THAT(error_of(container_launch(s, place(), {})), HasSubstr("absolute, normal path"));
  s = web();
  s.storage = {{"/data", "missing"}};
  EXPECT_THAT(error_of(container_launch(s, place(), {})), HasSubstr("not mounted"));
  s = web();
  s.config = {};
  EXPECT_THAT(error_of(container_launch(s, place(), {})), HasSubstr("neither Entrypoint nor Cmd"));
}

class ResolveUser : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) / "resolve-user-rootfs";
    fs::remove_all(root_);
    fs::create_directories(root_ / "etc");
    std::ofstream(root_ / "etc" / "passwd") << "root:x:0:0::/:/bin/sh\n"
                                               "broken line\n"
                                               "www:x:33:34::/www:/bin/sh\n";
    std::ofstream(root_ / "etc" / "group") << "root:x:0:\nstaff:x:50:\n";
  }
  fs::path root_;
};

TEST_F(ResolveUser, NamesAndNumbersFromTheImagesOwnFiles) {
  EXPECT_EQ(*resolve_user("", root_), (UserIds{0, 0}));
  EXPECT_EQ(*resolve_user("www", root_), (UserIds{33, 34}));
  EXPECT_EQ(*resolve_user("33", root_), (UserIds{33, 34}));
  EXPECT_EQ(*resolve_user("1000", root_), (UserIds{1000, 1000}));
  EXPECT_EQ(*resolve_user("www:staff", root_), (UserIds{33, 50}));
  EXPECT_EQ(*resolve_user("www:7", root_), (UserIds{33, 7}));
  EXPECT_THAT(error_of(resolve_user("nobody", root_)), HasSubstr("not in its /etc/passwd"));
  EXPECT_THAT(error_of(resolve_user("www:wheel", root_)), HasSubstr("not in its /etc/group"));
}

TEST_F(ResolveUser, ASymlinkedPasswdIsNotFollowedToTheHost) {
  fs::remove(root_ / "etc" / "passwd");
  fs::create_symlink("/etc/passwd", root_ / "etc" / "passwd");
  EXPECT_THAT(error_of(resolve_user("root", root_)), HasSubstr("symbolic link"));
}

}  // namespace
}  // namespace mos::runtime
