// The Registry with an authenticator: every endpoint refuses requests without accepted Basic
// credentials (401, UNAUTHORIZED, a Basic challenge), streamed uploads before their body.
#include "oci/registry_auth.hpp"

#include <atomic>

#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "registry/registry.hpp"
#include "registry/routes.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::registry;

namespace {

class FakeAuthenticator final : public Authenticator {
 public:
  bool verify(std::string_view user, std::string_view password) const override {
    ++calls;
    return user == "alice" && password == "s3cret";
  }
  mutable std::atomic<int> calls{0};
};

class RegistryAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir::create({}, "mos-registry-auth-test-").value();
    auth_ = std::make_shared<FakeAuthenticator>();
    registry_ = std::make_unique<Registry>(oci::LayoutRoot::open(dir_->path(), true).value(),
                                           RegistryPolicy{.authenticator = auth_});
  }
  // A request through the same path the server takes; `streamed` tells whether the body sink
  // was handed out (the server would then read the body).
  HttpResponse call(std::string method, std::string target,
                    std::optional<std::string> authorization, std::string body = {},
                    bool* streamed = nullptr) {
    HttpRequest request{std::move(method), std::move(target), {}, std::move(body)};
    if (authorization) request.headers.emplace_back("authorization", *authorization);
    return test::registry_answer(*registry_, request, streamed);
  }
  static std::string basic(std::string_view credentials) {
    return "Basic " + oci::base64_encode(credentials);
  }

  void expect_refused(const HttpResponse& r, std::string_view message) {
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"mos-registry\"");
    auto body = parse_json_strict(r.body, "answer");
    ASSERT_TRUE(body) << r.body;
    EXPECT_EQ((*body)["errors"][0]["code"], "UNAUTHORIZED") << r.body;
    EXPECT_EQ((*body)["errors"][0]["message"], message) << r.body;
  }

  std::optional<TempDir> dir_;
  std::shared_ptr<FakeAuthenticator> auth_;
  std::unique_ptr<Registry> registry_;
};

}  // namespace

TEST_F(RegistryAuthTest, EveryEndpointRefusesMissingCredentials) {
  std::string blob = "hello";
  std::string digest = oci::digest_of(blob).str();
  for (auto [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v2/"},
           {"HEAD", "/v2/"},
           {"GET", "/v2/_catalog"},
           {"GET", "/v2/r/tags/list"},
           {"GET", "/v2/r/manifests/latest"},
           {"HEAD", "/v2/r/manifests/latest"},
           {"PUT", "/v2/r/manifests/latest"},
           {"DELETE", "/v2/r/manifests/latest"},
           {"GET", "/v2/r/blobs/" + digest},
           {"DELETE", "/v2/r/blobs/" + digest},
           {"GET", "/v2/r/referrers/" + digest},
           {"POST", "/v2/r/blobs/uploads/"},
           {"GET", "/v2/r/blobs/uploads/0123456789abcdef0123456789abcdef"},
           {"DELETE", "/v2/r/blobs/uploads/0123456789abcdef0123456789abcdef"},
           {"GET", "/v2/../etc/manifests/x"},  // refused before the name is even looked at
           {"GET", "/nothing"},
       }) {
    SCOPED_TRACE(method + " " + target);
    expect_refused(call(method, target, std::nullopt), "authentication required");
  }
  EXPECT_EQ(auth_->calls.load(), 0);
  EXPECT_FALSE(fs::exists(dir_->path() / "r"));
}

TEST_F(RegistryAuthTest, StreamedUploadsAreRefusedBeforeTheBody) {
  std::string blob = "layer bytes";
  std::string digest = oci::digest_of(blob).str();
  bool streamed = true;
  expect_refused(
      call("POST", "/v2/r/blobs/uploads/?digest=" + digest, std::nullopt, blob, &streamed),
      "authentication required");
  EXPECT_FALSE(streamed);
  expect_refused(call("PATCH", "/v2/r/blobs/uploads/0123456789abcdef0123456789abcdef",
                      basic("alice:wrong"), blob, &streamed),
                 "invalid user name or password");
  EXPECT_FALSE(streamed);
  expect_refused(
      call("PUT", "/v2/r/blobs/uploads/0123456789abcdef0123456789abcdef?digest=" + digest,
           std::string("Basic %%%"), blob, &streamed),
      "invalid user name or password");
  EXPECT_FALSE(streamed);
  EXPECT_FALSE(fs::exists(dir_->path() / "r"));
  // With credentials the same single-POST upload streams and lands.
  auto r =
      call("POST", "/v2/r/blobs/uploads/?digest=" + digest, basic("alice:s3cret"), blob, &streamed);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(streamed);
  r = call("GET", "/v2/r/blobs/" + digest, basic("alice:s3cret"));
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(r.file);
  EXPECT_EQ(r.file->length, blob.size());
}

TEST_F(RegistryAuthTest, WrongOrMalformedCredentialsAreRefusedGoodOnesPass) {
  for (std::string bad :
       {basic("alice:wrong"), basic("bob:s3cret"), basic("alice:s3cret "), basic("alice"),
        std::string("Basic"), std::string("Basic !!!"), std::string("Bearer abc"),
        std::string("Basic ") + std::string(100000, 'A'), std::string("\xff\xfe", 2),
        basic("\xff\xfe:\x80")}) {
    SCOPED_TRACE(bad.substr(0, 40));
    auto r = call("GET", "/v2/", bad);
    expect_refused(r, "invalid user name or password");
    // The answer stays valid UTF-8 JSON whatever the client sent (checked by the strict parse).
  }
  // An empty user name (skopeo without credentials sends "Basic Og==") is no credentials at all.
  int calls = auth_->calls.load();
  expect_refused(call("GET", "/v2/", basic(":")), "authentication required");
  expect_refused(call("GET", "/v2/", basic(":s3cret")), "authentication required");
  EXPECT_EQ(auth_->calls.load(), calls);
  auto r = call("GET", "/v2/", basic("alice:s3cret"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.header("WWW-Authenticate"));
  r = call("GET", "/v2/", "basic " + oci::base64_encode("alice:s3cret"));
  EXPECT_EQ(r.status, 200) << r.body;
  r = call("GET", "/v2/_catalog", basic("alice:s3cret"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"repositories":[]})");
  r = call("GET", "/v2/r/manifests/latest", basic("alice:s3cret"));
  EXPECT_EQ(r.status, 404) << r.body;  // past authentication, into the registry
}

TEST_F(RegistryAuthTest, WithoutAnAuthenticatorNothingIsAsked) {
  Registry open(oci::LayoutRoot::open(dir_->path(), true).value(), RegistryPolicy{});
  HttpRequest request{"GET", "/v2/", {}, {}};
  auto r = open.handle(request, parse_route(request.target));
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.header("WWW-Authenticate"));
}
