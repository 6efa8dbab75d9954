// Credentials from auth files and credential helpers, and the files mosb login/logout write.
// No real credential helper (docker-credential-pass, -secretservice, -desktop, ...) exists on
// this machine, so small shell scripts named docker-credential-NAME on $PATH stand in for them:
// they speak the protocol's real shape (the verb as argument, the server or a JSON document on
// stdin, {"ServerURL","Username","Secret"} or "credentials not found in native keychain" with
// exit status 1 on stdout).
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "core/json.hpp"
#include "oci/registry_auth.hpp"
#include "unit/support/test_support.hpp"

namespace mos::oci {
namespace {

using test::error_of;
using test::read_text;
using ::testing::HasSubstr;

// Sets environment variables for one test and restores them afterwards.
class EnvGuard {
 public:
  ~EnvGuard() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }
  void set(const std::string& name, const std::optional<std::string>& value) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

constexpr std::string_view kHost = "reg.example:5000";

class CredentialFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::create();
    ASSERT_TRUE(dir);
    dir_.emplace(std::move(*dir));
    bin_ = dir_->path() / "bin";
    ASSERT_TRUE(make_dirs(bin_));
    log_ = dir_->path() / "helper.log";
    // The helper "test": credentials for reg.example:5000 only; store and erase logged.
    helper("test", fmt::format(R"(verb=$1
input=$(cat)
printf '%s %s\n' "$verb" "$input" >> '{}'
case $verb in
get)
  if [ "$input" = reg.example:5000 ]; then
    printf '{{"ServerURL":"%s","Username":"helper-user","Secret":"helper-pass"}}\n' "$input"
  else
    echo "credentials not found in native keychain"; exit 1
  fi ;;
store) ;;
erase)
  if [ "$input" != reg.example:5000 ]; then echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown verb $verb"; exit 2 ;;
esac
)",
                               log_.string()));
    helper("broken", "echo 'boom: the keyring is locked' >&2\nexit 3\n");
    helper("slow", "exec sleep 30\n");
    helper("junk", "cat >/dev/null\necho 'not json'\n");
    helper(
        "token",
        "cat >/dev/null\necho '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"t\"}'\n");
    env_.set("PATH", fmt::format("{}:{}", bin_.string(), std::getenv("PATH")));
  }

  void helper(const std::string& name, const std::string& body) {
    auto path = bin_ / ("docker-credential-" + name);
    ASSERT_TRUE(write_file_atomic(path, "#!/bin/sh\n" + body, 0755));
  }

  fs::path file(const std::string& name, const std::string& text) {
    auto path = dir_->path() / name;
    EXPECT_TRUE(write_file_atomic(path, text, 0600));
    return path;
  }

  std::string log() {
    auto text = read_file(log_);
    return text ? *text : "";
  }

  std::optional<TempDir> dir_;
  fs::path bin_, log_;
  EnvGuard env_;
};

std::string auth_entry(std::string_view user_pass) {
  return base64_encode(user_pass);
}

TEST_F(CredentialFiles, CredHelpersComeFirstForTheirHost) {
  auto f = file("auth.json", fmt::format(R"({{"credHelpers":{{"{0}":"test"}},
      "auths":{{"{0}":{{"auth":"{1}"}}}}}})",
                                         kHost, auth_entry("file-user:file-pass")));
  auto got = credentials_from_auth_file(f, kHost);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->username, "helper-user");
  EXPECT_EQ((*got)->password, "helper-pass");
  EXPECT_EQ(log(), "get reg.example:5000\n");
  // Another host: the helper is not asked.
  auto none = credentials_from_auth_file(f, "other.example");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_EQ(log(), "get reg.example:5000\n");
}

TEST_F(CredentialFiles, AHelperWithoutCredentialsLeavesTheFileEntry) {
  auto f = file("auth.json", fmt::format(R"({{"credHelpers":{{"other.example":"test"}},
      "auths":{{"https://other.example":{{"auth":"{}"}}}}}})",
                                         auth_entry("file-user:file-pass")));
  auto got = credentials_from_auth_file(f, "other.example");
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->username, "file-user");
  EXPECT_EQ(log(), "get other.example\n");
}

TEST_F(CredentialFiles, CredsStoreIsAskedAfterTheFileEntries) {
  // Docker's config.json with a store: "auths" holds empty placeholders.
  auto f = file("config.json", fmt::format(R"({{"credsStore":"test",
      "auths":{{"{}":{{}},"a.example":{{"auth":"{}"}}}}}})",
                                           kHost, auth_entry("a:b")));
  auto a = credentials_from_auth_file(f, "a.example");
  ASSERT_TRUE(a && *a);
  EXPECT_EQ((*a)->username, "a");
  EXPECT_EQ(log(), "");
  auto stored = credentials_from_auth_file(f, kHost);
  ASSERT_TRUE(stored) << stored.error().message;
  ASSERT_TRUE(*stored);
  EXPECT_EQ((*stored)->username, "helper-user");
  auto none = credentials_from_auth_file(f, "none.example");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_EQ(log(), "get reg.example:5000\nget none.example\n");
}

TEST_F(CredentialFiles, AMissingHelperIsAnErrorNamingIt) {
  auto f = file("auth.json", fmt::format(R"({{"credHelpers":{{"{}":"nope"}}}})", kHost));
  auto message = error_of(credentials_from_auth_file(f, kHost));
  EXPECT_THAT(message, HasSubstr(f.string()));
  EXPECT_THAT(message, HasSubstr("\"credHelpers\" names helper \"nope\""));
  EXPECT_THAT(message, HasSubstr("docker-credential-nope is not installed"));
  EXPECT_THAT(message, HasSubstr("install it, or remove it from the file"));
  auto store = file("store.json", R"({"credsStore":"nope"})");
  EXPECT_THAT(error_of(credentials_from_auth_file(store, kHost)),
              HasSubstr("\"credsStore\" names helper \"nope\""));
}

TEST_F(CredentialFiles, AFailingHelperIsAnErrorWithWhatItSaid) {
  auto message = error_of(credential_helper_get("broken", kHost));
  EXPECT_THAT(message, HasSubstr("credential helper docker-credential-broken get for "
                                 "reg.example:5000 failed (exit status 3): boom: the keyring is "
                                 "locked"));
  EXPECT_THAT(error_of(credential_helper_get("junk", kHost)),
              HasSubstr("the answer of docker-credential-junk get for reg.example:5000"));
  EXPECT_THAT(error_of(credential_helper_get("token", kHost)),
              HasSubstr("docker-credential-token holds an identity token"));
  EXPECT_THAT(error_of(credential_helper_get("../../bin/sh", kHost)),
              HasSubstr("is not a plain name"));
  EXPECT_THAT(error_of(credential_helper_store("broken", kHost, {"u", "p"})),
              HasSubstr("docker-credential-broken store for reg.example:5000 failed"));
}

TEST_F(CredentialFiles, AHangingHelperIsStoppedAtTheTimeout) {
  auto start = std::chrono::steady_clock::now();
  auto message = error_of(credential_helper_get("slow", kHost, std::chrono::milliseconds(300)));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(message, HasSubstr("docker-credential-slow get did not answer within"));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(CredentialFiles, StoreKeepsOtherEntriesAndKeysAndWritesMode0600) {
  auto f = file("auth.json", R"({"auths":{"other.example":{"auth":"b3RoZXI6eA=="},
      "https://reg.example:5000":{"auth":"b2xkOm9sZA=="}},"HttpHeaders":{"User-Agent":"x"}})");
  ::chmod(f.c_str(), 0644);
  auto stored = store_credentials(f, kHost, {"alice", "s3:cret"});
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_FALSE(stored->helper);
  auto json = parse_json_strict(read_text(f), "auth file");
  ASSERT_TRUE(json);
  EXPECT_EQ((*json)["auths"]["other.example"]["auth"], "b3RoZXI6eA==");
  EXPECT_FALSE((*json)["auths"].contains("https://reg.example:5000"));
  EXPECT_EQ((*json)["auths"][std::string(kHost)]["auth"], base64_encode("alice:s3:cret"));
  EXPECT_EQ((*json)["HttpHeaders"]["User-Agent"], "x");
  struct stat st{};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // What login wrote is what lookups find.
  auto back = credentials_from_auth_file(f, kHost);
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->username, "alice");
  EXPECT_EQ((*back)->password, "s3:cret");
}

TEST_F(CredentialFiles, StoreCreatesTheFileAndItsDirectory) {
  auto f = dir_->path() / "xdg/containers/auth.json";
  ASSERT_TRUE(store_credentials(f, kHost, {"alice", "pw"}));
  struct stat st{};
  ASSERT_EQ(::stat(f.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read_text(f), fmt::format("{{\n\t\"auths\": {{\n\t\t\"{}\": {{\n\t\t\t\"auth\": "
                                      "\"{}\"\n\t\t}}\n\t}}\n}}\n",
                                      kHost, base64_encode("alice:pw")));
}

TEST_F(CredentialFiles, StoreRefusesAFileThatIsNoJsonObject) {
  auto f = file("auth.json", "[1,2]");
  EXPECT_THAT(error_of(store_credentials(f, kHost, {"a", "b"})),
              HasSubstr(fmt::format("reading auth file {}: not a JSON object", f.string())));
  auto g = file("auth2.json", R"({"auths":[]})");
  EXPECT_THAT(error_of(store_credentials(g, kHost, {"a", "b"})),
              HasSubstr("\"auths\" is not an object"));
  EXPECT_EQ(read_text(g), R"({"auths":[]})");  // left as it was
}

TEST_F(CredentialFiles, StoreAndEraseGoThroughTheHostsCredHelper) {
  auto f = file("auth.json", fmt::format(R"({{"credHelpers":{{"{0}":"test"}},
      "auths":{{"{0}":{{"auth":"{1}"}}}}}})",
                                         kHost, auth_entry("stale:stale")));
  auto stored = store_credentials(f, kHost, {"alice", "pw"});
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_EQ(stored->helper, "docker-credential-test");
  EXPECT_EQ(log(), R"(store {"ServerURL":"reg.example:5000","Username":"alice","Secret":"pw"})"
                   "\n");
  auto json = parse_json_strict(read_text(f), "auth file");
  ASSERT_TRUE(json);
  EXPECT_FALSE((*json)["auths"].contains(std::string(kHost)));  // the stale entry went
  auto erased = erase_credentials(f, kHost);
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_TRUE(*erased);
  EXPECT_THAT(log(), HasSubstr("erase reg.example:5000\n"));
}

TEST_F(CredentialFiles, EraseRemovesEverySpellingAndSaysWhenThereWasNone) {
  auto f = file("auth.json", fmt::format(R"({{"auths":{{"{0}":{{"auth":"{1}"}},
      "http://{0}/v2/":{{"auth":"{1}"}},"keep.example":{{"auth":"{1}"}}}},"credsStore":"x"}})",
                                         kHost, auth_entry("a:b")));
  auto erased = erase_credentials(f, kHost);
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_TRUE(*erased);
  auto json = parse_json_strict(read_text(f), "auth file");
  ASSERT_TRUE(json);
  EXPECT_EQ((*json)["auths"].size(), 1u);
  EXPECT_TRUE((*json)["auths"].contains("keep.example"));
  EXPECT_EQ((*json)["credsStore"], "x");
  auto again = erase_credentials(f, kHost);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto missing = erase_credentials(dir_->path() / "none.json", kHost);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);

  auto all = erase_all_credentials(f);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, 1u);
  json = parse_json_strict(read_text(f), "auth file");
  ASSERT_TRUE(json);
  EXPECT_TRUE((*json)["auths"].empty());
  EXPECT_EQ((*json)["credsStore"], "x");
}

TEST_F(CredentialFiles, LookupOrderAndTheFileLoginWrites) {
  auto home = dir_->path() / "home";
  auto xdg = dir_->path() / "xdg";
  auto explicit_file = dir_->path() / "explicit.json";
  env_.set("HOME", home.string());
  env_.set("XDG_RUNTIME_DIR", xdg.string());
  env_.set("REGISTRY_AUTH_FILE", explicit_file.string());
  auto file_at = [&](const fs::path& p, std::string_view user) {
    ASSERT_TRUE(make_dirs(p.parent_path()));
    ASSERT_TRUE(write_file_atomic(p, fmt::format(R"({{"auths":{{"{}":{{"auth":"{}"}}}}}})", kHost,
                                                 base64_encode(fmt::format("{}:pw", user)))));
  };
  file_at(home / ".docker/config.json", "docker");
  file_at(home / ".config/containers/auth.json", "config");
  auto user_found = [&]() -> std::string {
    auto got = find_credentials(kHost, std::nullopt);
    if (!got || !*got) return "";
    return (*got)->username;
  };
  EXPECT_EQ(user_found(), "config");
  file_at(xdg / "containers/auth.json", "xdg");
  EXPECT_EQ(user_found(), "xdg");
  file_at(explicit_file, "explicit");
  EXPECT_EQ(user_found(), "explicit");
  EXPECT_EQ(
      auth_file_candidates(),
      (std::vector<fs::path>{explicit_file, xdg / "containers/auth.json",
                             home / ".config/containers/auth.json", home / ".docker/config.json"}));

  // mosb login writes the first file lookups read.
  EXPECT_EQ(default_auth_file().value_or(""), explicit_file);
  env_.set("REGISTRY_AUTH_FILE", std::nullopt);
  EXPECT_EQ(default_auth_file().value_or(""), xdg / "containers/auth.json");
  env_.set("XDG_RUNTIME_DIR", std::nullopt);
  EXPECT_EQ(default_auth_file().value_or(""), home / ".config/containers/auth.json");
  env_.set("HOME", std::nullopt);
  EXPECT_THAT(error_of(default_auth_file()), HasSubstr("give --authfile FILE"));
}

}  // namespace
}  // namespace mos::oci
