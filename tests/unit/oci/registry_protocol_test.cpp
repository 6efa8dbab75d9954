// Parsers of registry answers: WWW-Authenticate challenges, Link headers, error bodies, token
// answers, auth files, and the referrers tag-schema index.
#include "oci/registry_protocol.hpp"

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "oci/media_types.hpp"
#include "oci/registry_auth.hpp"
#include "oci/registry_client.hpp"
#include "unit/support/test_support.hpp"

namespace mos::oci {
namespace {

using test::error_of;
using ::testing::HasSubstr;

TEST(WwwAuthenticate, BearerWithQuotedParameters) {
  // Docker Hub's challenge shape (distribution token spec).
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push")");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].params.at("realm"), "https://auth.docker.io/token");
  EXPECT_EQ((*c)[0].params.at("service"), "registry.docker.io");
  EXPECT_EQ((*c)[0].params.at("scope"), "repository:samalba/my-app:pull,push");
}

TEST(WwwAuthenticate, SeveralChallengesAndEscapes) {
  auto c = parse_www_authenticate(
      R"(Basic realm="a \"quoted\" realm", charset=UTF-8, Bearer realm="https://x/t", error="invalid_token")");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].params.at("realm"), R"(a "quoted" realm)");
  EXPECT_EQ((*c)[0].params.at("charset"), "UTF-8");
  EXPECT_EQ((*c)[1].scheme, "bearer");
  EXPECT_EQ((*c)[1].params.at("error"), "invalid_token");
}

TEST(WwwAuthenticate, CaseInsensitiveSchemeAndNames) {
  auto c = parse_www_authenticate(R"(BASIC Realm="Registry Realm")");
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)[0].scheme, "basic");
  EXPECT_EQ((*c)[0].params.at("realm"), "Registry Realm");
}

TEST(WwwAuthenticate, MalformedIsAnErrorNotACrash) {
  EXPECT_THAT(error_of(parse_www_authenticate("")), HasSubstr("no challenge"));
  EXPECT_THAT(error_of(parse_www_authenticate(R"(Bearer realm="unterminated)")),
              HasSubstr("unterminated quoted string"));
  EXPECT_THAT(error_of(parse_www_authenticate("=\"x\"")),
              HasSubstr("expected an authentication scheme"));
  EXPECT_THAT(error_of(parse_www_authenticate("Bearer realm=\"x\" @@@")),
              HasSubstr("unexpected character"));
}

TEST(LinkHeader, NextTargetIsFound) {
  auto l = parse_next_link(R"(</v2/a/tags/list?last=b&n=2>; rel="next")");
  ASSERT_TRUE(l) << l.error().message;
  EXPECT_EQ(*l, "/v2/a/tags/list?last=b&n=2");
  auto several = parse_next_link(
      R"(<https://x/prev>; rel="prev", <https://x/next>; title="t"; rel="next last")");
  ASSERT_TRUE(several);
  EXPECT_EQ(*several, "https://x/next");
  auto unquoted = parse_next_link("</p2>;rel=next");
  ASSERT_TRUE(unquoted);
  EXPECT_EQ(*unquoted, "/p2");
}

TEST(LinkHeader, NoNextAndMalformed) {
  auto none = parse_next_link(R"(</v2/x>; rel="prev")");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  EXPECT_THAT(error_of(parse_next_link("/v2/x; rel=next")), HasSubstr("expected '<'"));
  EXPECT_THAT(error_of(parse_next_link("</v2/x; rel=next")), HasSubstr("missing '>'"));
  EXPECT_THAT(error_of(parse_next_link(R"(<>; rel="next")")), HasSubstr("empty target"));
}

TEST(ErrorBody, OciErrorsBecomeOneLine) {
  auto m = describe_registry_error(
      404,
      R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]})");
  EXPECT_EQ(m, R"(MANIFEST_UNKNOWN: manifest unknown ({"Tag":"x"}) (HTTP 404))");
  auto two =
      describe_registry_error(400, R"({"errors":[{"code":"A","message":"one"},{"code":"B"}]})");
  EXPECT_EQ(two, "A: one; B (HTTP 400)");
}

TEST(ErrorBody, PlainTextHtmlAndEmpty) {
  // docker-registry's routing 404 is plain text.
  EXPECT_EQ(describe_registry_error(404, "404 page not found\n"), "HTTP 404: 404 page not found");
  EXPECT_EQ(describe_registry_error(502, "<html><body>Bad gateway</body></html>"), "HTTP 502");
  EXPECT_EQ(describe_registry_error(500, ""), "HTTP 500");
  EXPECT_EQ(describe_registry_error(400, R"({"errors":"not a list"})"), "HTTP 400");
  EXPECT_EQ(describe_registry_error(400, std::string("a\0b", 3)), "HTTP 400: a?b");
}

Descriptor referrer(std::string_view content, std::string type) {
  Descriptor d;
  d.media_type = std::string(media_type::kImageManifest);
  d.digest = digest_of(content);
  d.size = static_cast<std::int64_t>(content.size());
  d.artifact_type = std::move(type);
  d.annotations = {{"org.example.kind", "sig"}};
  return d;
}

TEST(ReferrersTag, TagNameIsAlgorithmDashHex) {
  auto d = digest_of("x");
  EXPECT_EQ(referrers_tag(d), "sha256-" + d.hex());
}

TEST(ReferrersTag, StartsEmptyAppendsAndNeverDuplicates) {
  auto a = referrer("a", "application/vnd.machine.signature");
  auto b = referrer("b", "application/vnd.machine.pubkeycrt");
  auto first = add_to_referrers_index(std::nullopt, a);
  ASSERT_TRUE(first && *first) << first.error().message;
  auto index = parse_image_index(**first);
  ASSERT_TRUE(index);
  ASSERT_EQ(index->manifests.size(), 1u);
  EXPECT_EQ(index->manifests[0], a);
  EXPECT_EQ(index->media_type, std::string(media_type::kImageIndex));
  auto again = add_to_referrers_index(**first, a);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  auto second = add_to_referrers_index(**first, b);
  ASSERT_TRUE(second && *second);
  auto both = parse_image_index(**second);
  ASSERT_EQ(both->manifests.size(), 2u);
  EXPECT_EQ(both->manifests[1].artifact_type, "application/vnd.machine.pubkeycrt");
}

TEST(ReferrersTag, KeepsForeignFieldsAndRefusesGarbage) {
  std::string existing =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"k":"v"}})";
  auto out = add_to_referrers_index(existing, referrer("a", "t"));
  ASSERT_TRUE(out && *out);
  EXPECT_THAT(**out, HasSubstr(R"("annotations":{"k":"v"})"));
  EXPECT_THAT(error_of(add_to_referrers_index(std::string("not json"), referrer("a", "t"))),
              HasSubstr("not valid JSON"));
}

TEST(ReferrersTag, FilterByArtifactType) {
  std::vector<Descriptor> list{referrer("a", "x"), referrer("b", "y"), referrer("c", "x")};
  EXPECT_EQ(filter_referrers(list, std::string("x")).size(), 2u);
  EXPECT_EQ(filter_referrers(list, std::nullopt).size(), 3u);
}

TEST(Auth, Base64RoundTripAndBasicHeader) {
  EXPECT_EQ(base64_encode("alice:s3cret"), "YWxpY2U6czNjcmV0");
  EXPECT_EQ(*base64_decode("YWxpY2U6czNjcmV0"), "alice:s3cret");
  EXPECT_EQ(*base64_decode("YQ=="), "a");
  EXPECT_THAT(error_of(base64_decode("abc")), HasSubstr("length 3 is not a multiple of 4"));
  EXPECT_EQ(basic_authorization({"alice", "s3cret"}), "Basic YWxpY2U6czNjcmV0");
}

TEST(Auth, AuthFileEntriesByHost) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto file = dir->path() / "auth.json";
  ASSERT_TRUE(write_file_atomic(
      file,
      R"({"auths":{"https://reg.example:5000/v2/":{"auth":"YWxpY2U6czNjcmV0"},"other":{"auth":"Ym9iOng="}}})"));
  auto found = credentials_from_auth_file(file, "reg.example:5000");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->username, "alice");
  EXPECT_EQ((*found)->password, "s3cret");
  auto none = credentials_from_auth_file(file, "elsewhere");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  EXPECT_THAT(error_of(find_credentials("x", dir->path() / "missing.json")),
              HasSubstr("missing.json does not exist"));
  ASSERT_TRUE(write_file_atomic(file, R"({"auths":{"h":{"auth":"bm9jb2xvbg=="}}})"));
  EXPECT_THAT(error_of(credentials_from_auth_file(file, "h")),  // "nocolon"
              HasSubstr("entry for h is not base64 of USER:PASSWORD"));
}

TEST(Auth, TokenAnswers) {
  auto now = std::chrono::steady_clock::now();
  auto t = parse_token_response(R"({"token":"abc","expires_in":300})", now);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->token, "abc");
  EXPECT_GT(t->expires, now + std::chrono::seconds(200));
  auto access = parse_token_response(R"({"access_token":"xyz"})", now);
  ASSERT_TRUE(access);
  EXPECT_EQ(access->token, "xyz");
  EXPECT_THAT(error_of(parse_token_response(R"({"expires_in":3})", now)),
              HasSubstr("no \"token\" or \"access_token\""));
  EXPECT_THAT(error_of(parse_token_response(R"({"token":"bad\ntoken"})", now)),
              HasSubstr("a token with invalid characters"));
  EXPECT_THAT(error_of(parse_token_response("[]", now)), HasSubstr("not a JSON object"));
}

TEST(Hosts, LoopbackUsesPlainHttp) {
  for (auto h : {"127.0.0.1:5000", "127.1.2.3", "localhost:80", "localhost", "[::1]:5000", "::1"})
    EXPECT_TRUE(is_loopback_host(h)) << h;
  for (auto h : {"10.0.0.1:5000", "registry.example", "128.0.0.1", "localhost.example:5000"})
    EXPECT_FALSE(is_loopback_host(h)) << h;
}

}  // namespace
}  // namespace mos::oci
