// RegistryClient and RegistryRepository against a fake registry, for protocol cases that
// Debian's docker-registry (the real peer in tests/e2e/oci_copy.bats) never produces. Each test
// names the real behaviour it stands for.
#include "oci/registry_client.hpp"

#include <atomic>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oci/media_types.hpp"
#include "oci/registry_repository.hpp"
#include "unit/oci/fake_registry.hpp"
#include "unit/support/test_support.hpp"

namespace mos::oci {
namespace {

using test::descriptor_of;
using test::error_of;
using test::FakeBlobReader;
using testing::FakeRegistry;
using testing::FakeRequest;
using testing::FakeResponse;
using ::testing::HasSubstr;

RegistryClientOptions fast_options() {
  RegistryClientOptions o;
  o.retry_delay = std::chrono::milliseconds(1);
  o.request_timeout_seconds = 20;
  o.stall_timeout_seconds = 20;
  return o;
}

std::shared_ptr<RegistryClient> client_for(const FakeRegistry& fake,
                                           RegistryClientOptions options = fast_options()) {
  auto c = RegistryClient::create(fake.host(), options);
  EXPECT_TRUE(c);
  return *c;
}

const std::string kManifest =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]})";

FakeResponse manifest_response() {
  return {200,
          {{"Content-Type", std::string(media_type::kImageManifest)},
           {"Docker-Content-Digest", digest_of(kManifest).str()}},
          kManifest};
}

FakeResponse not_found() {
  return {
      404,
      {{"Content-Type", "application/json"}},
      R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]})"};
}

// Stands for Docker Hub / Harbor / zot with token auth: /v2/ answers a Bearer challenge, the
// token endpoint wants Basic credentials, and tokens are cached per scope.
TEST(RegistryClientFake, BearerTokenChallengeAndCache) {
  std::atomic<int> token_requests{0};
  std::string realm;
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.path() == "/token") {
      ++token_requests;
      if (r.header("authorization") != "Basic YWxpY2U6czNjcmV0") return {401, {}, "bad creds"};
      EXPECT_THAT(r.target, HasSubstr("scope=repository%3Aproj%2Fimg%3Apull"));
      return {200, {{"Content-Type", "application/json"}}, R"({"token":"tok-1","expires_in":300})"};
    }
    if (r.header("authorization") != "Bearer tok-1")
      return {401,
              {{"WWW-Authenticate", R"(Bearer realm=")" + realm +
                                        R"(",service="fake",scope="repository:proj/img:pull")"}},
              ""};
    if (r.path() == "/v2/") return {200, {}, "{}"};
    if (r.path() == "/v2/proj/img/manifests/v1") return manifest_response();
    return not_found();
  });
  realm = fake.url() + "/token";
  auto options = fast_options();
  options.username = "alice";
  options.password = "s3cret";
  auto client = client_for(fake, options);
  auto doc = client->get_manifest("proj/img", "v1");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->digest, digest_of(kManifest));
  ASSERT_TRUE(client->get_manifest("proj/img", "v1"));
  EXPECT_EQ(token_requests.load(), 1);

  options.password = "wrong";
  auto refused = client_for(fake, options)->get_manifest("proj/img", "v1");
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("refused a token"));
}

// Stands for a registry with the referrers API (zot, distribution 3): server-side filtering
// announced by OCI-Filters-Applied, and pagination with Link.
TEST(RegistryClientFake, ReferrersApiFilteringAndPagination) {
  auto subject = digest_of(kManifest);
  auto entry = [](std::string_view content, std::string_view type) {
    return fmt::format(
        R"({{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"artifactType":"{}"}})",
        digest_of(content).str(), content.size(), type);
  };
  bool server_filters = false;
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    auto base = "/v2/a/referrers/" + subject.str();
    if (r.path() != base) return not_found();
    bool page2 = r.target.find("page=2") != std::string::npos;
    bool filter = server_filters && r.target.find("artifactType=sig") != std::string::npos;
    std::vector<std::string> items =
        page2 ? std::vector<std::string>{entry("c", "sig")}
              : std::vector<std::string>{entry("a", "sig"), entry("b", "cert")};
    if (filter)
      std::erase_if(items,
                    [](const std::string& s) { return s.find("\"cert\"") != std::string::npos; });
    std::string body =
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)";
    for (std::size_t i = 0; i < items.size(); ++i) body += (i ? "," : "") + items[i];
    body += "]}";
    FakeResponse res{200, {{"Content-Type", std::string(media_type::kImageIndex)}}, body};
    if (!page2)
      res.headers.push_back({"Link", "<" + base + "?page=2" + (filter ? "&artifactType=sig" : "") +
                                         R"(>; rel="next")"});
    if (filter) res.headers.push_back({"OCI-Filters-Applied", "artifactType"});
    return res;
  });
  auto client = client_for(fake);
  auto all = client->referrers_api("a", subject, std::nullopt);
  ASSERT_TRUE(all && *all) << (all ? "" : all.error().message);
  EXPECT_EQ((*all)->size(), 3u);
  // Without OCI-Filters-Applied the client filters itself.
  auto sigs = client->referrers_api("a", subject, std::string("sig"));
  ASSERT_TRUE(sigs && *sigs);
  EXPECT_EQ((*sigs)->size(), 2u);
  server_filters = true;
  auto filtered = client->referrers_api("a", subject, std::string("sig"));
  ASSERT_TRUE(filtered && *filtered);
  EXPECT_EQ((*filtered)->size(), 2u);
  for (const auto& d : **filtered) EXPECT_EQ(d.artifact_type, "sig");
}

// Stands for docker-registry (plain-text 404 on /referrers) with an existing sha256-<hex> tag, and
// a registry that answers OCI-Subject (no tag to maintain).
TEST(RegistryClientFake, ReferrersFallbackAndOciSubject) {
  auto subject = digest_of(kManifest);
  std::string tag_index = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"artifactType":"sig"}}]}})",
      digest_of("x").str());
  bool answers_subject = true;
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.path().starts_with("/v2/a/referrers/"))
      return {404, {{"Content-Type", "text/plain"}}, "404 page not found\n"};
    if (r.path() == "/v2/a/manifests/" + referrers_tag(subject)) {
      if (r.method == "PUT") return {201, {}, ""};
      return {200,
              {{"Content-Type", std::string(media_type::kImageIndex)},
               {"Docker-Content-Digest", digest_of(tag_index).str()}},
              tag_index};
    }
    if (r.method == "PUT" && r.path().starts_with("/v2/a/manifests/")) {
      FakeResponse res{201, {}, ""};
      if (answers_subject) res.headers.push_back({"OCI-Subject", subject.str()});
      return res;
    }
    return not_found();
  });
  RegistryRepository repo(client_for(fake), "a");
  auto list = repo.referrers(subject, std::nullopt);
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].digest, digest_of("x"));
  EXPECT_TRUE(repo.referrers(subject, std::string("other"))->empty());

  std::string referrer = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"cert","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{}}}}})",
      subject.str(), kManifest.size());
  auto doc = make_document(referrer);
  ASSERT_TRUE(doc) << doc.error().message;
  auto count_tag_puts = [&] {
    int n = 0;
    for (const auto& r : fake.requests())
      if (r.method == "PUT" && r.path().ends_with(referrers_tag(subject))) ++n;
    return n;
  };
  ASSERT_TRUE(repo.put_manifest(*doc, std::nullopt));
  EXPECT_EQ(count_tag_puts(), 0);
  answers_subject = false;
  ASSERT_TRUE(repo.put_manifest(*doc, std::nullopt));
  ASSERT_EQ(count_tag_puts(), 1);
  for (const auto& r : fake.requests()) {
    if (r.method == "PUT" && r.path().ends_with(referrers_tag(subject))) {
      auto index = parse_image_index(r.body);
      ASSERT_TRUE(index);
      ASSERT_EQ(index->manifests.size(), 2u);
      EXPECT_EQ(index->manifests[1].digest, doc->digest);
      EXPECT_EQ(index->manifests[1].artifact_type, "cert");
      EXPECT_EQ(r.header("content-type"), std::string(media_type::kImageIndex));
    }
  }
}

// Stands for registries that paginate tag lists (distribution-spec ?n= with Link; Docker's
// registry ignores n), with a relative Link target.
TEST(RegistryClientFake, TagListPagination) {
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.path() != "/v2/a/tags/list") return not_found();
    if (r.target.find("last=b") == std::string::npos)
      return {200,
              {{"Link", R"(</v2/a/tags/list?n=2&last=b>; rel="next")"}},
              R"({"name":"a","tags":["a","b"]})"};
    return {200, {}, R"({"name":"a","tags":["c"]})"};
  });
  auto tags = client_for(fake)->list_tags("a");
  ASSERT_TRUE(tags) << tags.error().message;
  EXPECT_EQ(*tags, (std::vector<std::string>{"a", "b", "c"}));
}

// Stands for overloaded registries and proxies: 503 and 429 bursts are retried with backoff; a
// lasting failure gives the registry's message.
TEST(RegistryClientFake, TransientFailuresAreRetried) {
  std::atomic<int> calls{0};
  FakeRegistry fake([&](const FakeRequest&) -> FakeResponse {
    int n = ++calls;
    if (n == 1) return {503, {}, "busy"};
    if (n == 2)
      return {429, {}, R"({"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]})"};
    if (n <= 3) return manifest_response();
    return {500, {}, R"({"errors":[{"code":"UNKNOWN","message":"disk on fire"}]})"};
  });
  auto client = client_for(fake);
  ASSERT_TRUE(client->get_manifest("a", "v1"));
  EXPECT_EQ(calls.load(), 3);
  auto failed = client->get_manifest("a", "v1");
  ASSERT_FALSE(failed);
  EXPECT_EQ(calls.load(), 3 + fast_options().max_attempts);
  EXPECT_THAT(failed.error().message, HasSubstr("disk on fire"));
}

// Stands for a connection cut in the middle of a layer download (proxy reset, registry crash):
// the sink sees only verified-so-far bytes and the download fails as truncated.
TEST(RegistryClientFake, TruncatedBlobIsAnError) {
  std::string content(100000, 'z');
  auto blob = descriptor_of(content);
  FakeRegistry fake([&](const FakeRequest&) -> FakeResponse {
    FakeResponse res{200, {{"Content-Type", "application/octet-stream"}}, content};
    res.truncate_at = 5000;
    return res;
  });
  StringSink sink(1 << 20);
  auto ok = client_for(fake)->get_blob("a", blob, sink);
  ASSERT_FALSE(ok);
  EXPECT_THAT(ok.error().message, HasSubstr(blob.digest.str()));
  EXPECT_LE(sink.data().size(), 5000u);
}

// Stands for registries that redirect blob downloads to object storage (S3, a CDN): followed,
// without credentials; a redirect of anything else to another host is refused.
TEST(RegistryClientFake, RedirectsToOtherHosts) {
  std::string content = "layer bytes";
  auto blob = descriptor_of(content);
  FakeRegistry storage([&](const FakeRequest&) -> FakeResponse { return {200, {}, content}; });
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.path().starts_with("/v2/a/blobs/"))
      return {307, {{"Location", storage.url() + "/bucket/x?sig=1"}}, ""};
    if (r.path().starts_with("/v2/a/manifests/"))
      return {307, {{"Location", storage.url() + "/elsewhere"}}, ""};
    return not_found();
  });
  auto options = fast_options();
  options.username = "alice";
  options.password = "s3cret";
  auto client = client_for(fake, options);
  StringSink sink(1024);
  ASSERT_TRUE(client->get_blob("a", blob, sink));
  EXPECT_EQ(sink.data(), content);
  for (const auto& r : storage.requests()) EXPECT_EQ(r.header("authorization"), "");
  auto refused = client->get_manifest("a", "v1");
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("another host"));
}

// Stands for spec-conformant registries answering 416 to a chunk they do not expect, and
// announcing OCI-Chunk-Min-Length (docker-registry does neither).
TEST(RegistryClientFake, ChunkedUploadHonoursMinLengthAndFailsOn416) {
  std::string content(1000, 'c');
  auto blob = descriptor_of(content);
  bool refuse_second = false;
  std::atomic<int> patches{0};
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.method == "POST")
      return {202, {{"Location", "/v2/a/blobs/uploads/u1"}, {"OCI-Chunk-Min-Length", "400"}}, ""};
    if (r.method == "PATCH") {
      int n = ++patches;
      if (refuse_second && n == 2) return {416, {{"Range", "0-99"}}, ""};
      return {
          202,
          {{"Location", "/v2/a/blobs/uploads/u1"}, {"Range", "0-" + std::to_string(r.body.size())}},
          ""};
    }
    if (r.method == "PUT") return {201, {}, ""};
    return not_found();
  });
  auto options = fast_options();
  options.chunk_threshold = 100;
  options.chunk_size = 100;
  auto client = client_for(fake, options);
  FakeBlobReader reader(content);
  ASSERT_TRUE(client->put_blob("a", blob, reader));
  std::vector<std::string> ranges;
  for (const auto& r : fake.requests())
    if (r.method == "PATCH") ranges.push_back(r.header("content-range"));
  EXPECT_EQ(ranges, (std::vector<std::string>{"0-399", "400-799", "800-999"}));

  refuse_second = true;
  patches = 0;
  FakeBlobReader again(content);
  auto refused = client->put_blob("a", blob, again);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("416"));
}

// Stands for registries supporting single-POST uploads (201) and for cross-repository mounts a
// registry declines (202: continue as a normal upload).
TEST(RegistryClientFake, SinglePostAndDeclinedMount) {
  std::string content = "{}";
  auto blob = descriptor_of(content);
  bool single_post = true;
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.method == "POST" && r.target.find("mount=") != std::string::npos)
      return {202, {{"Location", "/v2/b/blobs/uploads/m"}}, ""};
    if (r.method == "POST" && single_post && r.target.find("digest=") != std::string::npos) {
      EXPECT_EQ(r.body, content);
      return {201, {}, ""};
    }
    if (r.method == "POST") return {202, {{"Location", "/v2/b/blobs/uploads/p?state=1"}}, ""};
    if (r.method == "PUT") {
      EXPECT_THAT(r.target, HasSubstr("digest=sha256%3A"));
      return r.body == content ? FakeResponse{201, {}, ""}
                               : FakeResponse{400, {}, R"({"errors":[{"code":"DIGEST_INVALID"}]})"};
    }
    return not_found();
  });
  auto client = client_for(fake);
  ASSERT_TRUE(client->put_blob_bytes("b", blob, content));
  EXPECT_EQ(fake.requests().size(), 1u);
  single_post = false;
  ASSERT_TRUE(client->put_blob_bytes("b", blob, content));
  EXPECT_EQ(fake.requests().size(), 3u);
  FakeBlobReader reader(content);
  ASSERT_TRUE(client->put_blob("b", blob, reader, std::string("a")));
  auto requests = fake.requests();
  EXPECT_EQ(requests.back().method, "PUT");
  EXPECT_TRUE(requests.back().target.starts_with("/v2/b/blobs/uploads/m?digest="));
  EXPECT_THAT(error_of(client->put_blob_bytes("b", blob, "other bytes")), HasSubstr("digest"));
}

// A source that yields bytes other than the descriptor's must not be stored (stands for a
// corrupted local layout being pushed).
TEST(RegistryClientFake, UploadOfWrongBytesFails) {
  FakeRegistry fake([&](const FakeRequest& r) -> FakeResponse {
    if (r.method == "POST") return {202, {{"Location", "/v2/a/blobs/uploads/u"}}, ""};
    return {201, {}, ""};
  });
  auto client = client_for(fake);
  FakeBlobReader shorter("abc");
  auto blob = descriptor_of("abcd");
  EXPECT_THAT(error_of(client->put_blob("a", blob, shorter)), HasSubstr("3 bytes"));
}

}  // namespace
}  // namespace mos::oci
