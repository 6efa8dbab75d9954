// Boot media: the action file's strict format, and a keyset without a bootkit refused before
// anything is written. (The ISO itself is built and booted in tests/e2e/bootkit.bats.)
#include "boot/boot_media.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "unit/support/test_support.hpp"

namespace mos::boot {
namespace {

using test::error_of;
using ::testing::HasSubstr;

TEST(BootAction, WrittenAsParsed) {
  BootAction provision{std::string(kBootActionProvision), "", false};
  auto json = boot_action_json(provision);
  EXPECT_EQ(json, "{\n  \"action\": \"provision\"\n}\n");
  auto parsed = parse_boot_action(json, "boot.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->action, "provision");
  BootAction install{std::string(kBootActionInstall), "10.0.2.2:5000/machine/install:1.0.0", true};
  parsed = parse_boot_action(boot_action_json(install), "boot.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->action, "install");
  EXPECT_EQ(parsed->install_url, "10.0.2.2:5000/machine/install:1.0.0");
  EXPECT_TRUE(parsed->plain_http);
}

TEST(BootAction, RefusesWhatItDoesNotKnow) {
  EXPECT_THAT(error_of(parse_boot_action(R"({"action":"format"})", "m/boot.json")),
              HasSubstr("m/boot.json: action \"format\" is not one this system knows"));
  EXPECT_THAT(error_of(parse_boot_action(R"({"action":"provision","url":"x"})", "b")),
              HasSubstr("unknown key \"url\""));
  EXPECT_THAT(error_of(parse_boot_action(R"({"action":"provision","install_url":"x"})", "b")),
              HasSubstr("names no install manifest"));
  EXPECT_THAT(error_of(parse_boot_action(R"({"action":"install"})", "b")),
              HasSubstr("install_url"));
  EXPECT_THAT(error_of(parse_boot_action(R"({"action":"install","install_url":""})", "b")),
              HasSubstr("install_url is empty"));
  EXPECT_THAT(error_of(parse_boot_action(
                  R"({"action":"install","install_url":"h/r:t","plain_http":1})", "b")),
              HasSubstr("plain_http is not true or false"));
  EXPECT_THAT(error_of(parse_boot_action(R"(["provision"])", "b")), HasSubstr("not a JSON object"));
  EXPECT_THAT(error_of(parse_boot_action(R"({"action":1})", "b")), HasSubstr("action"));
  EXPECT_THAT(error_of(parse_boot_action("{\"action\":", "b")), HasSubstr("b"));
  EXPECT_FALSE(parse_boot_action("", "b"));
}

TEST(BootMedia, KeysetWithoutBootkitWritesNothing) {
  auto dir = std::move(*TempDir::create());
  BootMediaRequest request;
  request.keyset_dir = dir.path() / "keyset";
  request.keyset = "bare";
  request.project = "default";
  request.action = std::string(kBootActionProvision);
  request.output = dir.path() / "out" / "provision.iso";
  EXPECT_THAT(error_of(build_boot_media(request)), HasSubstr("keyset bare has no bootkit"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));
  request.action = std::string(kBootActionInstall);  // with no URL
  EXPECT_THAT(error_of(build_boot_media(request)), HasSubstr("install_url is empty"));
}

}  // namespace
}  // namespace mos::boot
