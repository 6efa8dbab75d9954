#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oci/digest.hpp"
#include "oci/reference.hpp"
#include "unit/support/test_support.hpp"

using namespace mos::oci;
using mos::test::error_of;
using ::testing::HasSubstr;

TEST(Digest, ParsesStrictly) {
  auto empty = digest_of("{}");
  EXPECT_EQ(empty.str(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_TRUE(Digest::parse(empty.str()));
  EXPECT_THAT(error_of(Digest::parse(
                  "sha256:44136FA355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")),
              HasSubstr("sha256 needs 64 lowercase hex digits"));
  EXPECT_THAT(error_of(Digest::parse("sha256:abc")),
              HasSubstr("sha256 needs 64 lowercase hex digits"));
  EXPECT_THAT(error_of(Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e")),
              HasSubstr("unsupported algorithm \"md5\""));
  EXPECT_THAT(
      error_of(Digest::parse("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")),
      HasSubstr("expected ALGORITHM:HEX"));
  auto sha512 = digest_of("abc", DigestAlgorithm::sha512);
  EXPECT_EQ(sha512.hex().size(), 128u);
  EXPECT_EQ(*Digest::parse(sha512.str()), sha512);
}

TEST(Digest, StreamingEqualsOneShot) {
  Hasher hasher;
  hasher.update("hello ");
  hasher.update("world");
  EXPECT_EQ(hasher.finish(), digest_of("hello world"));
}

TEST(Reference, WalkthroughForms) {
  auto bare = Reference::parse("127.0.0.1:5000/machine/install:1.0.0");
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(bare->registry, "127.0.0.1:5000");
  EXPECT_EQ(bare->repository, "machine/install");
  EXPECT_EQ(*bare->tag, "1.0.0");
  auto docker = Reference::parse("docker://zothub.io/machine/bootkit/demo-zot:0.0.4-squashfs");
  ASSERT_TRUE(docker);
  EXPECT_EQ(docker->registry, "zothub.io");
  EXPECT_EQ(docker->repository, "machine/bootkit/demo-zot");
  EXPECT_EQ(docker->str(), "docker://zothub.io/machine/bootkit/demo-zot:0.0.4-squashfs");
  auto by_digest = Reference::parse("localhost:5000/a/b@" + digest_of("x").str());
  ASSERT_TRUE(by_digest);
  EXPECT_EQ(by_digest->tag_or_digest(), digest_of("x").str());
}

TEST(Reference, Layouts) {
  auto r = Reference::parse("oci:/tmp/k/bootkit/oci:bootkit-squashfs");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_layout());
  EXPECT_EQ(r->layout_dir, "/tmp/k/bootkit/oci");
  EXPECT_EQ(*r->tag, "bootkit-squashfs");
  auto no_tag = Reference::parse("oci:relative/dir");
  ASSERT_TRUE(no_tag);
  EXPECT_FALSE(no_tag->tag);
  EXPECT_EQ(no_tag->layout_dir, "relative/dir");
  EXPECT_THAT(error_of(Reference::parse("oci:")), HasSubstr("oci: needs a directory"));
}

TEST(Reference, RejectsBadInput) {
  auto refused = [](std::string_view text) { return error_of(Reference::parse(text)); };
  EXPECT_THAT(refused("machine/install:1.0.0"), HasSubstr("with a registry host"));  // no host
  EXPECT_THAT(refused("127.0.0.1:5000/Machine/install:1"),
              HasSubstr("\"Machine/install\" is not a valid repository name"));  // uppercase
  EXPECT_THAT(refused("127.0.0.1:5000/a/../b:1"),
              HasSubstr("\"a/../b\" is not a valid repository name"));
  EXPECT_THAT(refused("127.0.0.1:5000/a:bad$tag"), HasSubstr("\"bad$tag\" is not a valid tag"));
  EXPECT_THAT(refused("ftp://host/a:1"), HasSubstr("the transport \"ftp://\" is not supported"));
  EXPECT_THAT(refused("127.0.0.1:5000/a@sha256:short"),
              HasSubstr("sha256 needs 64 lowercase hex digits"));
  EXPECT_THAT(refused("127.0.0.1:/a:1"), HasSubstr("\"127.0.0.1:\" is not a valid registry host"));
  EXPECT_TRUE(Reference::parse("[::1]:5000/a:1"));
}

TEST(Reference, NameGrammar) {
  EXPECT_TRUE(is_valid_repository_name("a/b-c/d__e/f.g"));
  EXPECT_FALSE(is_valid_repository_name("a//b"));
  EXPECT_FALSE(is_valid_repository_name("-a"));
  EXPECT_FALSE(is_valid_repository_name("a___b"));
  EXPECT_TRUE(is_valid_tag("1.0.0"));
  EXPECT_FALSE(is_valid_tag(".hidden"));
  EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
}
