#include "stacker/image_assembly.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "stacker/build_container.hpp"
#include "stacker/layer_tree.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;
using testing::ElementsAre;
using testing::HasSubstr;

LayerSpec layer_named(std::string name) {
  LayerSpec layer;
  layer.name = std::move(name);
  return layer;
}

Json config_of(const ImageState& base, const LayerSpec& layer,
               const std::vector<NewLayer>& added = {}) {
  ConfigInputs inputs{1700000000, "stacker", {}};
  return Json::parse(assemble_config(base, layer, added, inputs).value());
}

TEST(AssembleConfig, CmdAndEntrypointAreReplacedNotInherited) {
  // stacker's test: cmd foo, then entrypoint bar, then full_command baz.
  LayerSpec one = layer_named("one");
  one.cmd = std::vector<std::string>{"foo"};
  ImageState state;
  state.config = config_of(state, one).dump();
  EXPECT_EQ(Json::parse(state.config)["config"]["Cmd"], Json::array({"foo"}));
  LayerSpec two = layer_named("two");
  two.entrypoint = std::vector<std::string>{"bar"};
  state.config = config_of(state, two).dump();
  auto c = Json::parse(state.config)["config"];
  EXPECT_FALSE(c.contains("Cmd"));
  EXPECT_EQ(c["Entrypoint"], Json::array({"bar"}));
  LayerSpec three = layer_named("three");
  three.full_command = std::vector<std::string>{"baz"};
  three.cmd = std::vector<std::string>{"ignored"};
  c = config_of(state, three)["config"];
  EXPECT_FALSE(c.contains("Cmd"));
  EXPECT_EQ(c["Entrypoint"], Json::array({"baz"}));
}

TEST(AssembleConfig, EnvironmentLabelsVolumesAndTime) {
  ImageState base;
  base.config = R"({"architecture":"arm64","os":"linux","config":{"Env":["PATH=/bin","A=1"],)"
                R"("Labels":{"old":"x"},"WorkingDir":"/w"},"rootfs":{"type":"layers",)"
                R"("diff_ids":["sha256:aa"]},"history":[{"created_by":"base"}]})";
  base.diff_ids = {"sha256:aa"};
  LayerSpec layer = layer_named("img");
  layer.environment = {{"FOO", "bar"}};
  layer.labels = {{"new", "y"}};
  layer.volumes = {"/data"};
  layer.runtime_user = "1000";
  NewLayer added{{}, "sha256:bb", "stacker build of img"};
  auto doc = config_of(base, layer, {added});
  EXPECT_EQ(doc["created"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(doc["author"], "stacker");
  EXPECT_EQ(doc["architecture"], "arm64");
  EXPECT_EQ(doc["config"]["Env"], Json::array({"PATH=/bin", "A=1", "FOO=bar"}));
  EXPECT_EQ(doc["config"]["Labels"], Json::parse(R"({"old":"x","new":"y"})"));
  EXPECT_TRUE(doc["config"]["Volumes"].contains("/data"));
  EXPECT_EQ(doc["config"]["WorkingDir"], "/w");
  EXPECT_EQ(doc["config"]["User"], "1000");
  EXPECT_EQ(doc["rootfs"]["diff_ids"], Json::array({"sha256:aa", "sha256:bb"}));
  ASSERT_EQ(doc["history"].size(), 3u);
  EXPECT_EQ(doc["history"][1]["created_by"], "stacker build of img");
  EXPECT_EQ(doc["history"][2]["empty_layer"], true);
  // Without a base, PATH is given.
  EXPECT_EQ(config_of(ImageState{}, layer_named("s"))["config"]["Env"][0],
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  ImageState broken;
  broken.config = "{";
  EXPECT_FALSE(assemble_config(broken, layer, {}, {}));
}

TEST(AssembleManifest, AnnotationsOverTheBases) {
  LayerSpec layer = layer_named("img");
  layer.annotations = {{"org.example", "v"}};
  oci::Descriptor config;
  config.media_type = "application/vnd.oci.image.config.v1+json";
  config.digest = oci::digest_of("c");
  config.size = 1;
  auto doc = Json::parse(assemble_manifest(config, {}, {{"base", "b"}, {"org.example", "old"}},
                                           layer, "img: {}\n", "ns"));
  EXPECT_EQ(doc["annotations"]["base"], "b");
  EXPECT_EQ(doc["annotations"]["org.example"], "v");
  EXPECT_EQ(doc["annotations"]["ns.stacker.stacker_yaml"], "img: {}\n");
  EXPECT_TRUE(doc["annotations"].contains("ns.stacker.stacker_version"));
}

TEST(RunEnvironment, StackersPathPassthroughAndBuildEnv) {
  ::setenv("HTTP_PROXY", "http://proxy:3128", 1);
  ::setenv("MOS_TEST_SECRET", "no", 1);
  auto env = run_environment("img", {{"A", "1"}}, nullptr).value();
  EXPECT_EQ(env.front(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_THAT(env, testing::Contains("HTTP_PROXY=http://proxy:3128"));
  EXPECT_THAT(env, testing::Not(testing::Contains(HasSubstr("MOS_TEST_SECRET"))));
  EXPECT_THAT(env, testing::Contains("A=1"));
  EXPECT_EQ(env.back(), "STACKER_LAYER_NAME=img");
  // A list of its own replaces the default one; each expression is anchored.
  std::vector<std::string> only{"MOS_TEST_.*"};
  env = run_environment("img", {}, &only).value();
  EXPECT_THAT(env, testing::Contains("MOS_TEST_SECRET=no"));
  EXPECT_THAT(env, testing::Not(testing::Contains(HasSubstr("HTTP_PROXY"))));
  std::vector<std::string> bad{"("};
  EXPECT_FALSE(run_environment("img", {}, &bad));
  ::unsetenv("HTTP_PROXY");
  ::unsetenv("MOS_TEST_SECRET");
}

TEST(TidyUpper, MountPointsAndCopiedUpDirectoriesGo) {
  TempDir dir = TempDir::create().value();
  fs::path lower = dir.path() / "lower", upper = dir.path() / "upper";
  fs::create_directories(lower / "etc");
  fs::create_directories(upper / "etc");  // copied up when resolv.conf's mount point was made
  ASSERT_TRUE(write_file_atomic(upper / "etc" / "resolv.conf", ""));
  fs::create_directories(upper / "proc");
  fs::create_directories(upper / "stacker" / "imports");
  ::chmod((upper / "etc").c_str(), 0755);
  ::chmod((lower / "etc").c_str(), 0755);
  std::vector<std::string> created{"/proc", "/etc/resolv.conf", "/stacker", "/stacker/imports"};
  EXPECT_FALSE(tidy_upper(upper, {lower}, created).value());
  EXPECT_TRUE(fs::is_empty(upper));

  // What the script made stays, with the directories it needs.
  fs::create_directories(upper / "etc");
  ASSERT_TRUE(write_file_atomic(upper / "etc" / "zot-config.json", "{}"));
  fs::create_directories(upper / "new-empty-dir");
  EXPECT_TRUE(tidy_upper(upper, {lower}, {}).value());
  EXPECT_TRUE(fs::exists(upper / "etc" / "zot-config.json"));
  EXPECT_TRUE(fs::exists(upper / "new-empty-dir"));  // not in the lower: a change
}

TEST(TarWhiteouts, BecomeOverlayfsWhiteouts) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod of a whiteout needs root";
  TempDir dir = TempDir::create().value();
  fs::create_directories(dir.path() / "etc" / "gone-dir");
  ASSERT_TRUE(write_file_atomic(dir.path() / "etc" / ".wh.passwd", ""));
  ASSERT_TRUE(write_file_atomic(dir.path() / "etc" / "gone-dir" / ".wh..wh..opq", ""));
  auto converted = convert_tar_whiteouts(dir.path());
  if (!converted && converted.error().message.find("opaque") != std::string::npos)
    GTEST_SKIP() << "no trusted xattrs here: " << converted.error().message;
  ASSERT_TRUE(converted) << converted.error().message;
  struct stat st{};
  ASSERT_EQ(::lstat((dir.path() / "etc" / "passwd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(dir.path() / "etc" / ".wh.passwd"));
  char value[2] = {};
  EXPECT_EQ(::lgetxattr((dir.path() / "etc" / "gone-dir").c_str(), "trusted.overlay.opaque", value,
                        sizeof value),
            1);
  EXPECT_FALSE(fs::exists(dir.path() / "etc" / "gone-dir" / ".wh..wh..opq"));
}

}  // namespace
}  // namespace mos::stacker
