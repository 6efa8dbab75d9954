// resolve_apparmor_profile against a made-up /sys and parser directories: what auto becomes with
// and without AppArmor, and what it refuses to leave unsaid.
#include "runtime/apparmor_policy.hpp"

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

namespace mos::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ApparmorPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.emplace(TempDir::create({}, "mos-apparmor-test-").value());
    host_.sys = dir_->path() / "sys";
    host_.parser_dirs[0] = dir_->path() / "usr-sbin";
    host_.parser_dirs[1] = dir_->path() / "sbin";
    fs::create_directories(host_.sys / "module/apparmor/parameters");
  }
  // As sysfs shows it: a page, whatever the value.
  void enable(const std::string& value) {
    std::string page = value;
    page.resize(4096, '\0');
    ASSERT_TRUE(write_file_atomic(host_.sys / "module/apparmor/parameters/enabled", page, 0644));
  }
  void install_parser() {
    fs::create_directories(host_.parser_dirs[1]);
    ASSERT_TRUE(write_file_atomic(host_.parser_dirs[1] / "apparmor_parser", "#!/bin/sh\n", 0755));
  }
  std::optional<TempDir> dir_;
  ApparmorHost host_;
};

TEST_F(ApparmorPolicy, AutoIsNothingWithoutAppArmor) {
  EXPECT_EQ(resolve_apparmor_profile("auto", host_).value(), "");
  enable("N\n");
  EXPECT_EQ(resolve_apparmor_profile("auto", host_).value(), "");
}

TEST_F(ApparmorPolicy, AutoIsLxcsGeneratedProfileWhereAppArmorIsOn) {
  enable("Y\n");
  EXPECT_THAT(test::error_of(resolve_apparmor_profile("auto", host_)),
              HasSubstr("apparmor_parser loads: it is not installed (package apparmor)"));
  install_parser();
  EXPECT_THAT(test::error_of(resolve_apparmor_profile("auto", host_)),
              HasSubstr("securityfs is not mounted"));
  fs::create_directories(host_.sys / "kernel/security/apparmor");
  EXPECT_EQ(resolve_apparmor_profile("auto", host_).value(), "generated");
}

// The hostfs loads LXC's container profiles at boot: auto takes lxc-container-default-cgns when
// the kernel lists it as loaded (and only that exact name), with no profile to compile.
TEST_F(ApparmorPolicy, AutoIsLxcsDefaultProfileWhenLoaded) {
  enable("Y\n");
  install_parser();
  fs::create_directories(host_.sys / "kernel/security/apparmor");
  auto profiles = host_.sys / "kernel/security/apparmor/profiles";
  ASSERT_TRUE(write_file_atomic(profiles, "lxc-container-default-cgns-x (enforce)\n", 0644));
  EXPECT_EQ(resolve_apparmor_profile("auto", host_).value(), "generated");
  ASSERT_TRUE(write_file_atomic(profiles,
                                "lxc-container-default (enforce)\n"
                                "lxc-container-default-cgns (enforce)\n"
                                "lxc-container-default-with-nesting (enforce)\n",
                                0644));
  EXPECT_EQ(resolve_apparmor_profile("auto", host_).value(), kLxcContainerProfile);
  // What is asked still wins over it.
  EXPECT_EQ(resolve_apparmor_profile("generated", host_).value(), "generated");
}

TEST_F(ApparmorPolicy, WhatIsAskedIsPassedOnAndNonsenseRefused) {
  enable("Y\n");
  EXPECT_EQ(resolve_apparmor_profile("unchanged", host_).value(), "unchanged");
  EXPECT_EQ(resolve_apparmor_profile("my-profile", host_).value(), "my-profile");
  EXPECT_THAT(test::error_of(resolve_apparmor_profile("a b", host_)), HasSubstr("--apparmor"));
  EXPECT_THAT(test::error_of(resolve_apparmor_profile("x\nlxc.cap.drop =", host_)),
              HasSubstr("--apparmor"));
  EXPECT_THAT(test::error_of(resolve_apparmor_profile("", host_)), HasSubstr("--apparmor"));
}

}  // namespace
}  // namespace mos::runtime
