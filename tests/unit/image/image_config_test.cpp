#include "image/image_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "image/build_image.hpp"
#include "oci/digest.hpp"
#include "unit/support/test_support.hpp"

namespace mos::image {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

TEST(ImageConfig, WhatMosbWritesReadsBack) {
  ImageConfigFields fields;
  fields.entrypoint = {"/usr/bin/start-zot", "--flag with space"};
  fields.cmd = {"serve"};
  fields.env = {"A=1"};
  fields.workdir = "/srv";
  fields.user = "1000:1000";
  auto back = parse_image_config(encode_image_config(fields, 0, oci::digest_of("layer"))).value();
  EXPECT_EQ(back.entrypoint, fields.entrypoint);
  EXPECT_EQ(back.cmd, fields.cmd);
  EXPECT_THAT(back.env, ElementsAre(testing::StartsWith("PATH="), "A=1"));
  EXPECT_EQ(back.workdir, "/srv");
  EXPECT_EQ(back.user, "1000:1000");
  EXPECT_THAT(command_of(back), ElementsAre("/usr/bin/start-zot", "--flag with space", "serve"));
}

TEST(ImageConfig, OtherToolsConfigsWithNullsAndExtraFields) {
  auto c =
      parse_image_config(R"({"architecture":"amd64","config":{"Entrypoint":null,"Cmd":["/bin/sh"],)"
                         R"("ExposedPorts":{"80/tcp":{}},"WorkingDir":"","Labels":null}})")
          .value();
  EXPECT_FALSE(c.entrypoint);
  EXPECT_THAT(command_of(c), ElementsAre("/bin/sh"));
  EXPECT_FALSE(c.workdir);
  EXPECT_TRUE(parse_image_config(R"({"architecture":"amd64"})").value().env.empty());
}

TEST(ImageConfig, WrongTypesAreRefusedWithTheField) {
  EXPECT_THAT(test::error_of(parse_image_config(R"({"config":{"Cmd":"/bin/sh"}})")),
              HasSubstr("config.Cmd must be a list of strings"));
  EXPECT_THAT(test::error_of(parse_image_config(R"({"config":{"Env":["=x"]}})")),
              HasSubstr("config.Env entry \"=x\" is not NAME=VALUE"));
  EXPECT_THAT(test::error_of(parse_image_config(R"({"config":{"User":7}})")),
              HasSubstr("config.User must be a string"));
  EXPECT_THAT(test::error_of(parse_image_config(R"([1])")), HasSubstr("not a JSON object"));
  EXPECT_THAT(test::error_of(parse_image_config(R"({"config":{},"config":{}})")),
              HasSubstr("duplicate"));
}

}  // namespace
}  // namespace mos::image
