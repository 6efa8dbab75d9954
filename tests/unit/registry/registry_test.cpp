#include "registry/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "oci/media_types.hpp"
#include "registry/config.hpp"
#include "registry/routes.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::registry;
using ::testing::HasSubstr;

TEST(Routes, RecognisesEveryEndpoint) {
  auto r = parse_route("/v2/machine/install/manifests/1.0.0");
  EXPECT_EQ(r.endpoint, Endpoint::manifest);
  EXPECT_EQ(r.name, "machine/install");
  EXPECT_EQ(r.reference, "1.0.0");
  r = parse_route("/v2/a/blobs/b/blobs/sha256:00");  // names may contain "blobs"
  EXPECT_EQ(r.endpoint, Endpoint::blob);
  EXPECT_EQ(r.name, "a/blobs/b");
  r = parse_route("/v2/a/blobs/uploads/");
  EXPECT_EQ(r.endpoint, Endpoint::upload_start);
  EXPECT_EQ(r.name, "a");
  r = parse_route("/v2/a/blobs/uploads");
  EXPECT_EQ(r.endpoint, Endpoint::upload_start);
  r = parse_route("/v2/a/b/blobs/uploads/0123?digest=sha256%3Aab");
  EXPECT_EQ(r.endpoint, Endpoint::upload);
  EXPECT_EQ(r.reference, "0123");
  EXPECT_EQ(r.query.get("digest"), "sha256:ab");
  r = parse_route("/v2/x/tags/list?n=2&last=b");
  EXPECT_EQ(r.endpoint, Endpoint::tags);
  EXPECT_EQ(r.query.get("n"), "2");
  r = parse_route("/v2/x/referrers/sha256:ab?artifactType=application/vnd.a+json&artifactType=b");
  EXPECT_EQ(r.endpoint, Endpoint::referrers);
  EXPECT_EQ(r.query.all("artifactType"), (std::vector<std::string>{"application/vnd.a+json", "b"}));
  EXPECT_EQ(parse_route("/v2/").endpoint, Endpoint::base);
  EXPECT_EQ(parse_route("/v2/_catalog?n=1").endpoint, Endpoint::catalog);
  EXPECT_EQ(parse_route("/v3/x").endpoint, Endpoint::unknown);
  EXPECT_EQ(parse_route("/v2/manifests/x").endpoint, Endpoint::unknown);
  EXPECT_EQ(parse_route("/v2/../x/manifests/y").name, "../x");  // refused later by the grammar
}

TEST(Config, TakesTheWalkthroughsZotConfigAsIs) {
  std::string walkthrough = test::example("zot-config.json");
  auto config = parse_registry_config(walkthrough, "zot-config.json");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->root_directory, "/tmp/zot");
  EXPECT_FALSE(config->gc);
  EXPECT_EQ(config->port, 5000);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->dist_spec_version, "1.1.0-dev");
  // zot's settings that mos-registry has no use for are accepted as well.
  std::string zot = test::replaced(walkthrough, R"("gc": false)", R"("gc": false, "dedupe": true)");
  zot =
      test::replaced(zot, R"("log": {)", R"("extensions": {"search": {"enable": true}}, "log": {)");
  auto with_extras = parse_registry_config(zot, "zot-config.json");
  ASSERT_TRUE(with_extras) << with_extras.error().message;
  EXPECT_EQ(with_extras->root_directory, "/tmp/zot");
  auto numeric = parse_registry_config(
      R"({"storage":{"rootDirectory":"/r","gcDelay":"1h30m"},"http":{"port":8080}})", "c");
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->port, 8080);
  EXPECT_EQ(numeric->gc_delay.count(), 5400);
}

TEST(Config, BadConfigsAreClearErrors) {
  for (auto [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"{}", "missing \"storage\""},
           {R"({"storage":{}})", "rootDirectory"},
           {R"({"storage":{"rootDirectory":"/r","gc":"yes"}})", "\"gc\" must be true or false"},
           {R"({"storage":{"rootDirectory":"/r"},"http":{"port":"70000"}})", "port"},
           {R"({"storage":{"rootDirectory":"/r"},"log":{"level":"loud"}})", "log.level"},
           {R"({"storage":{"rootDirectory":"/r","gcDelay":"soon"}})", "gcDelay"},
           {R"({"storage":{"rootDirectory":"/a","rootDirectory":"/b"}})", "duplicate"},
       }) {
    auto config = parse_registry_config(text, "c.json");
    ASSERT_FALSE(config) << text;
    EXPECT_THAT(config.error().message, HasSubstr(expected));
  }
}

namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir::create({}, "mos-registry-test-").value();
    registry_ = std::make_unique<Registry>(oci::LayoutRoot::open(dir_->path(), true).value(),
                                           RegistryPolicy{});
  }
  HttpResponse call(std::string method, std::string target, std::string body = {},
                    std::string content_type = {}) {
    HttpRequest request{std::move(method), std::move(target), {}, std::move(body)};
    if (!content_type.empty()) request.headers.emplace_back("content-type", content_type);
    return test::registry_answer(*registry_, request);
  }
  std::string push_blob(const std::string& repo, const std::string& bytes) {
    auto digest = oci::digest_of(bytes).str();
    auto r = call("POST", "/v2/" + repo + "/blobs/uploads/?digest=" + digest, bytes);
    EXPECT_EQ(r.status, 201) << r.body;
    return digest;
  }
  std::optional<TempDir> dir_;
  std::unique_ptr<Registry> registry_;
};

std::string manifest_json(const std::string& layer_digest, std::size_t layer_size,
                          const std::string& subject = {}) {
  std::string m = fmt::format(
      R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/octet-stream","digest":"{}","size":{}}}])",
      oci::kEmptyJsonDigest, layer_digest, layer_size);
  if (!subject.empty())
    m += fmt::format(
        R"(,"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1}})",
        subject);
  return m + "}";
}

}  // namespace

TEST_F(RegistryTest, PushPullDiscoverDelete) {
  push_blob("r", "{}");
  auto layer = push_blob("r", "layer bytes");
  auto m = manifest_json(layer, 11);
  auto put = call("PUT", "/v2/r/manifests/v1", m, std::string(oci::media_type::kImageManifest));
  ASSERT_EQ(put.status, 201) << put.body;
  auto digest = oci::digest_of(m).str();
  EXPECT_EQ(put.header("Docker-Content-Digest"), digest);
  EXPECT_FALSE(put.header("OCI-Subject"));
  auto get = call("GET", "/v2/r/manifests/v1");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, m);
  EXPECT_EQ(get.header("Content-Type"), oci::media_type::kImageManifest);

  auto ref = manifest_json(layer, 11, digest);
  put = call("PUT", "/v2/r/manifests/" + oci::digest_of(ref).str(), ref,
             std::string(oci::media_type::kImageManifest));
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.header("OCI-Subject"), digest);
  auto referrers =
      call("GET", "/v2/r/referrers/" + digest + "?artifactType=application/vnd.example");
  EXPECT_EQ(referrers.status, 200);
  EXPECT_EQ(referrers.header("OCI-Filters-Applied"), "artifactType");
  auto index = parse_json_strict(referrers.body, "referrers").value();
  ASSERT_EQ(index["manifests"].size(), 1u);
  EXPECT_EQ(index["manifests"][0]["artifactType"], "application/vnd.example");

  for (auto t : {"b", "a"})
    ASSERT_EQ(call("PUT", std::string("/v2/r/manifests/") + t, m).status, 201);
  auto tags = call("GET", "/v2/r/tags/list?n=2");
  EXPECT_EQ(parse_json_strict(tags.body, "tags").value()["tags"], Json::parse(R"(["a","b"])"));
  EXPECT_EQ(tags.header("Link"), "</v2/r/tags/list?n=2&last=b>; rel=\"next\"");

  EXPECT_EQ(call("DELETE", "/v2/r/manifests/" + digest).status, 202);
  EXPECT_EQ(call("GET", "/v2/r/manifests/v1").status, 404);
  EXPECT_EQ(call("DELETE", "/v2/r/blobs/" + layer).status, 202);
  EXPECT_EQ(call("GET", "/v2/r/blobs/" + layer).status, 404);
}

TEST_F(RegistryTest, BadRequestsGetOciErrors) {
  auto expect_error = [&](const HttpResponse& r, int status, std::string code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto body = parse_json_strict(r.body, "error");
    ASSERT_TRUE(body) << r.body;
    EXPECT_EQ((*body)["errors"][0]["code"], code);
  };
  expect_error(call("GET", "/v2/nope/tags/list"), 404, "NAME_UNKNOWN");
  expect_error(call("PUT", "/v2/../x/manifests/v1", "{}"), 400, "NAME_INVALID");
  expect_error(call("PUT", "/v2/r/manifests/v1", "not json"), 400, "MANIFEST_INVALID");
  expect_error(call("PUT", "/v2/r/manifests/v1", manifest_json(oci::digest_of("absent").str(), 6)),
               400, "MANIFEST_BLOB_UNKNOWN");
  push_blob("r", "{}");
  auto layer = push_blob("r", "x");
  expect_error(
      call("PUT", "/v2/r/manifests/sha256:" + std::string(64, '0'), manifest_json(layer, 1)), 400,
      "DIGEST_INVALID");
  expect_error(call("PUT", "/v2/r/manifests/v1", manifest_json(layer, 1),
                    "application/vnd.oci.image.index.v1+json"),
               400, "MANIFEST_INVALID");
  expect_error(call("POST", "/v2/r/blobs/uploads/?digest=sha256:" + std::string(64, '1'), "body"),
               400, "DIGEST_INVALID");
  expect_error(call("PATCH", "/v2/r/blobs/uploads/" + std::string(32, 'a'), "x"), 404,
               "BLOB_UPLOAD_UNKNOWN");
  expect_error(call("GET", "/v2/r/blobs/sha256:zz"), 400, "DIGEST_INVALID");
  expect_error(call("POST", "/v2/r/manifests/v1"), 405, "UNSUPPORTED");
  // Nothing of the refused uploads is left as a blob.
  EXPECT_FALSE(fs::exists(dir_->path() / "r/blobs/sha256" / std::string(64, '1')));
  EXPECT_FALSE(fs::exists(dir_->path() / "x"));
}

TEST_F(RegistryTest, ChunkedUploadsResumeAfterARestart) {
  auto start = call("POST", "/v2/r/blobs/uploads/");
  ASSERT_EQ(start.status, 202);
  std::string location(*start.header("Location"));
  HttpRequest patch{"PATCH", location, {{"content-range", "0-4"}}, "hello"};
  auto route = parse_route(location);
  {
    auto begun = registry_->begin_upload_body(patch, route);
    auto& sink = *std::get<std::unique_ptr<UploadBody>>(begun);
    ASSERT_TRUE(sink.write(std::as_bytes(std::span(patch.body.data(), 5))));
    EXPECT_EQ(registry_->finish_upload_body(patch, route, sink, true).header("Range"), "0-4");
  }
  // A new process: the running hash is rebuilt from the upload file.
  registry_ = std::make_unique<Registry>(oci::LayoutRoot::open(dir_->path(), false).value(),
                                         RegistryPolicy{});
  EXPECT_EQ(call("GET", location).header("Range"), "0-4");
  HttpRequest bad{"PATCH", location, {{"content-range", "7-9"}}, "abc"};
  auto refused = registry_->begin_upload_body(bad, route);
  ASSERT_TRUE(std::holds_alternative<HttpResponse>(refused));
  EXPECT_EQ(std::get<HttpResponse>(refused).status, 416);
  auto done = call("PUT", location + "?digest=" + oci::digest_of("hello world").str(), " world");
  ASSERT_EQ(done.status, 201) << done.body;
  EXPECT_EQ(*read_file(dir_->path() / "r/blobs/sha256" / oci::digest_of("hello world").hex()),
            "hello world");
}
