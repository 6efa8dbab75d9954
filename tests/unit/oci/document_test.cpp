#include "oci/document.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oci/media_types.hpp"
#include "unit/support/test_support.hpp"

using namespace mos::oci;
using mos::test::error_of;
using ::testing::HasSubstr;

namespace {
// The install manifest of the walkthrough (image-manifest-walkthrough.md), compact as Go writes it.
ImageManifest walkthrough_install_manifest() {
  ImageManifest m;
  m.media_type = std::string(media_type::kImageManifest);
  m.artifact_type = std::string(media_type::kMachineInstall);
  m.config = empty_descriptor();
  Descriptor layer;
  layer.media_type = std::string(media_type::kMachineInstall);
  layer.digest =
      *Digest::parse("sha256:50a93be19bf1027b8363554359e288890324fa7e21002df072e50955e8336954");
  layer.size = 829;
  layer.annotations[std::string(annotation::kTitle)] = "index.json";
  m.layers.push_back(layer);
  m.annotations[std::string(annotation::kCreated)] = "2023-12-20T08:48:03-06:00";
  return m;
}
}  // namespace

TEST(Document, EncodingMatchesWalkthroughSizes) {
  // The walkthrough lists this manifest with size 584; the referrers with 755 and 765.
  auto install = encode_manifest(walkthrough_install_manifest());
  EXPECT_EQ(install.size(), 584u) << install;
  auto doc = make_document(install);
  ASSERT_TRUE(doc);
  ImageManifest cert;
  cert.media_type = std::string(media_type::kImageManifest);
  cert.artifact_type = std::string(media_type::kMachinePubkeyCert);
  cert.config = empty_descriptor();
  Descriptor layer;
  layer.media_type = std::string(media_type::kImageLayerTar);
  layer.digest =
      *Digest::parse("sha256:136d70873171b931a0e0002fbb31589786038f9419a687f9a47e77b423ba6911");
  layer.size = 1285;
  layer.annotations[std::string(annotation::kTitle)] = "cert.pem";
  cert.layers.push_back(layer);
  cert.subject = doc->descriptor();
  cert.annotations[std::string(annotation::kCreated)] = "2023-12-20T08:48:03-06:00";
  EXPECT_EQ(encode_manifest(cert).size(), 755u);
}

TEST(Document, RoundTripKeepsBytes) {
  std::string bytes = encode_manifest(walkthrough_install_manifest());
  auto doc = make_document(bytes);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->bytes, bytes);
  EXPECT_EQ(doc->digest, digest_of(bytes));
  EXPECT_EQ(doc->media_type, media_type::kImageManifest);
  auto parsed = parse_image_manifest(bytes);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(encode_manifest(*parsed), bytes);
  auto ref = referrer_descriptor(*doc);
  ASSERT_TRUE(ref);
  EXPECT_EQ(*ref->artifact_type, media_type::kMachineInstall);
}

TEST(Document, StrictParsing) {
  const std::string config =
      R"("config":{"mediaType":"a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2})";
  EXPECT_TRUE(parse_image_manifest(R"({"schemaVersion":2,)" + config + R"(,"layers":[]})"));
  auto refused = [](const std::string& json) { return error_of(parse_image_manifest(json)); };
  EXPECT_THAT(refused(R"({"schemaVersion":1,)" + config + R"(,"layers":[]})"),
              HasSubstr("schemaVersion must be 2, not 1"));
  EXPECT_THAT(refused(R"({"schemaVersion":"2",)" + config + R"(,"layers":[]})"),
              HasSubstr("\"schemaVersion\" must be an integer"));
  EXPECT_THAT(refused(R"({"schemaVersion":2,"schemaVersion":2,)" + config + R"(,"layers":[]})"),
              HasSubstr("duplicate key \"schemaVersion\""));
  EXPECT_THAT(refused(R"({"schemaVersion":2,)" + config + R"(,"layers":{}})"),
              HasSubstr("\"layers\" must be an array, not object"));
  EXPECT_THAT(
      refused(
          R"({"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:zz","size":2},"layers":[]})"),
      HasSubstr("invalid digest \"sha256:zz\""));
  EXPECT_THAT(
      refused(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)" +
              config + R"(,"layers":[]})"),
      HasSubstr("is not an image manifest type"));
  EXPECT_THAT(error_of(make_document("not json")), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of(make_document("[]")), HasSubstr("must be a JSON object, not array"));
  EXPECT_THAT(error_of(make_document(std::string(kMaxManifestBytes + 1, ' '))),
              HasSubstr("more than the limit"));
  EXPECT_TRUE(make_document(R"({"schemaVersion":2,"manifests":[]})"));
  EXPECT_THAT(
      error_of(make_document(R"({"schemaVersion":2,"manifests":[]})", media_type::kImageManifest)),
      HasSubstr("image manifest: missing \"config\""));
}
