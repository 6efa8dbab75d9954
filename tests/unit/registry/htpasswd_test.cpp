#include "registry/htpasswd.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"
#include "oci/registry_auth.hpp"
#include "registry/registry.hpp"
#include "registry/routes.hpp"

using namespace mos;
using namespace mos::registry;
using ::testing::HasSubstr;

namespace {

// Made once with `htpasswd -Bbn alice s3cret`, `htpasswd -Bbn -C 5 bob hunter2`,
// `openssl passwd -6 -salt saltsalt 'tr0ub4dor&3'`, `openssl passwd -5 -salt pepper 'correct
// horse'`, `htpasswd -Bbn -C 4 hank 'a:b'`.
constexpr std::string_view kAlice =
    "alice:$2y$05$jybK4FWkvFNwWWhY2jTA5Ov36x0oxTSOYwVWPnX/6Elk73pJ.B0rO";
constexpr std::string_view kBob =
    "bob:$2y$05$M3/AENc37oqLn0OX2sbQVuvrKTtRrvAURaHHNF.uT1g4ka.zfBUmK";
constexpr std::string_view kCarol =
    "carol:$6$saltsalt$w4JRS/rzf33ha13fW3n.44FLfJzgVCHUkebD.iMpeDxki4R8KJaWd/"
    "GtcSbAlMDBZd2LX1HOdeAoqhucRq3yI.";
constexpr std::string_view kDave = "dave:$5$pepper$I4JtT7ItqoiFALROk4x2EglL0RlsbnhesIq3gG3GPF.";
constexpr std::string_view kHank =
    "hank:$2y$04$qhmZnY3AzpX3BfTaXuf1dOhMfupb1d035.G6FzZO381OE/Kq0lw8u";
// Weak schemes: `htpasswd -bnm eve x`, `htpasswd -bns frank x`, `htpasswd -bnd greg x`.
constexpr std::string_view kEve = "eve:$apr1$6csFxlC/$EQ2.6MipgQsKW3bxFF6g11";
constexpr std::string_view kFrank = "frank:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=";
constexpr std::string_view kGreg = "greg:K/BK6u1Iqy9nI";

std::string lines(std::initializer_list<std::string_view> list) {
  std::string out;
  for (auto l : list) out.append(l).push_back('\n');
  return out;
}

class HtpasswdTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TempDir::create({}, "mos-htpasswd-test-").value(); }
  fs::path write(const std::string& text) {
    auto path = dir_->path() / "htpasswd";
    EXPECT_TRUE(write_file_atomic(path, text));
    return path;
  }
  std::shared_ptr<Htpasswd> load(const std::string& text, HtpasswdOptions options = {}) {
    auto loaded = Htpasswd::load(write(text), options);
    EXPECT_TRUE(loaded) << loaded.error().message;
    return loaded ? *loaded : nullptr;
  }
  std::optional<TempDir> dir_;
};

}  // namespace

TEST_F(HtpasswdTest, BcryptAndShaCryptVerify) {
  auto users = load(lines({"# made by htpasswd", "", kAlice, kBob, kCarol, kDave, kHank}));
  ASSERT_TRUE(users);
  EXPECT_EQ(users->users(), 5u);
  EXPECT_TRUE(users->warnings().empty());
  EXPECT_TRUE(users->verify("alice", "s3cret"));
  EXPECT_TRUE(users->verify("bob", "hunter2"));
  EXPECT_TRUE(users->verify("carol", "tr0ub4dor&3"));
  EXPECT_TRUE(users->verify("dave", "correct horse"));
  EXPECT_TRUE(users->verify("hank", "a:b"));  // colons belong to the password
  EXPECT_FALSE(users->verify("alice", "s3cret "));
  EXPECT_FALSE(users->verify("alice", "S3cret"));
  EXPECT_FALSE(users->verify("alice", ""));
  EXPECT_FALSE(users->verify("alice", "hunter2"));  // bob's password
  EXPECT_FALSE(users->verify("carol", "tr0ub4dor&"));
  EXPECT_FALSE(users->verify("dave", "correct horse battery"));
  EXPECT_FALSE(users->verify("mallory", "s3cret"));
  EXPECT_FALSE(users->verify("Alice", "s3cret"));
  EXPECT_FALSE(users->verify("", ""));
  // crypt(3) would stop at the NUL and see "s3cret".
  EXPECT_FALSE(users->verify("alice", std::string("s3cret\0x", 8)));
}

TEST_F(HtpasswdTest, EveryBcryptPrefixHtpasswdAndDockerWriteIsAccepted) {
  std::string hash(kAlice.substr(6));
  for (std::string prefix : {"$2b$", "$2a$"}) {
    auto users = load("alice:" + prefix + hash.substr(4) + "\r\n");  // CRLF too
    ASSERT_TRUE(users);
    EXPECT_TRUE(users->verify("alice", "s3cret")) << prefix;
    EXPECT_FALSE(users->verify("alice", "s3cre")) << prefix;
  }
}

TEST_F(HtpasswdTest, MalformedLinesAreErrorsNamingFileAndLine) {
  for (auto [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {lines({kAlice, "bob"}), ":2: expected \"user:hash\""},
           {lines({"# c", ":$2y$05$abc"}), ":2: empty user name"},
           {lines({"bob:"}), ":1: user \"bob\" has no password hash"},
           {lines({kAlice, kBob, kAlice}), ":3: user \"alice\" appears again (first on line 1)"},
           {lines({"alice:$2y$05$jybK4FWkvFNwWWhY2jTA5Ov36x0oxTSOYwVWPnX"}),
            ":1: user \"alice\" has a broken bcrypt hash"},
           {lines({"alice:$2y$99$jybK4FWkvFNwWWhY2jTA5Ov36x0oxTSOYwVWPnX/6Elk73pJ.B0rO"}),
            ":1: user \"alice\" has a broken bcrypt"},
           {lines({"dave:$5$pepper$I4JtT7"}), ":1: user \"dave\" has a broken SHA-crypt hash"},
           {lines({"dave:$5$rounds=$pepper$I4JtT7ItqoiFALROk4x2EglL0RlsbnhesIq3gG3GPF."}),
            ":1: user \"dave\" has a broken SHA-crypt"},
       }) {
    auto path = write(text);
    auto loaded = Htpasswd::load(path);
    ASSERT_FALSE(loaded) << text;
    EXPECT_THAT(loaded.error().message, HasSubstr(path.string() + expected))
        << loaded.error().message << "\nexpected: " << expected;
  }
  auto missing = Htpasswd::load(dir_->path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message,
              HasSubstr("htpasswd file " + (dir_->path() / "nope").string()));
  auto directory = Htpasswd::load(dir_->path());
  ASSERT_FALSE(directory);
  EXPECT_THAT(directory.error().message, HasSubstr("not a regular file"));
}

TEST_F(HtpasswdTest, WeakSchemesAreSkippedWithAWarningNamingTheUser) {
  auto users = load(lines({kEve, kAlice, kFrank, kGreg, "ivan:plaintext"}));
  ASSERT_TRUE(users);
  EXPECT_EQ(users->users(), 1u);
  auto warnings = users->warnings();
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_THAT(warnings[0], HasSubstr(":1: user \"eve\" has a password hash of apr1 MD5"));
  EXPECT_THAT(warnings[0], HasSubstr("htpasswd -B"));
  EXPECT_THAT(warnings[1], HasSubstr(":3: user \"frank\" has a password hash of unsalted SHA-1"));
  EXPECT_THAT(warnings[2], HasSubstr(":4: user \"greg\" has a password hash of DES crypt"));
  EXPECT_THAT(warnings[3], HasSubstr(":5: user \"ivan\""));
  EXPECT_FALSE(users->verify("eve", "x"));
  EXPECT_FALSE(users->verify("frank", "x"));
  EXPECT_FALSE(users->verify("greg", "x"));
  EXPECT_FALSE(users->verify("ivan", "plaintext"));
  EXPECT_TRUE(users->verify("alice", "s3cret"));
}

TEST_F(HtpasswdTest, SuccessesAreCachedFailuresNever) {
  auto users = load(lines({kAlice, kCarol}));
  ASSERT_TRUE(users);
  EXPECT_FALSE(users->remembers("alice", "s3cret"));
  EXPECT_TRUE(users->verify("alice", "s3cret"));
  EXPECT_EQ(users->hash_computations(), 1u);
  EXPECT_TRUE(users->remembers("alice", "s3cret"));
  EXPECT_FALSE(users->remembers("alice", "s3cret2"));
  EXPECT_FALSE(users->remembers("carol", "s3cret"));
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(users->verify("alice", "s3cret"));
  EXPECT_EQ(users->hash_computations(), 1u);  // one bcrypt for 21 requests
  // A wrong password after a right one is checked, and refused, every time.
  EXPECT_FALSE(users->verify("alice", "s3cret2"));
  EXPECT_FALSE(users->verify("alice", "s3cret2"));
  EXPECT_EQ(users->hash_computations(), 3u);
  // The right password of one user does not open another.
  EXPECT_FALSE(users->verify("carol", "s3cret"));
  EXPECT_EQ(users->hash_computations(), 4u);
  EXPECT_TRUE(users->verify("carol", "tr0ub4dor&3"));
  EXPECT_TRUE(users->verify("carol", "tr0ub4dor&3"));
  EXPECT_EQ(users->hash_computations(), 5u);
  // An unknown user costs a hash computation too, so timing does not tell which users exist.
  EXPECT_FALSE(users->verify("mallory", "s3cret"));
  EXPECT_EQ(users->hash_computations(), 6u);
}

TEST_F(HtpasswdTest, CacheIsBounded) {
  auto users = load(lines({kAlice, kCarol}), {.cache_entries = 1});
  ASSERT_TRUE(users);
  EXPECT_TRUE(users->verify("alice", "s3cret"));
  EXPECT_TRUE(users->verify("carol", "tr0ub4dor&3"));  // evicts alice
  EXPECT_TRUE(users->verify("carol", "tr0ub4dor&3"));
  EXPECT_EQ(users->hash_computations(), 2u);
  EXPECT_TRUE(users->verify("alice", "s3cret"));
  EXPECT_EQ(users->hash_computations(), 3u);
}

TEST_F(HtpasswdTest, ReloadsWhenTheFileChanges) {
  auto users = load(lines({kAlice}), {.reload_interval = std::chrono::milliseconds(0)});
  ASSERT_TRUE(users);
  EXPECT_TRUE(users->verify("alice", "s3cret"));  // now cached
  // Rotation: alice gets carol's hash (a new password), bob is added.
  write(lines({"alice" + std::string(kCarol.substr(5)), kBob}));
  EXPECT_FALSE(users->verify("alice", "s3cret"));  // the cached success is gone with the old table
  EXPECT_TRUE(users->verify("alice", "tr0ub4dor&3"));
  EXPECT_TRUE(users->verify("bob", "hunter2"));
  EXPECT_EQ(users->users(), 2u);
  // A broken file keeps the table in use; the error names the line.
  write(lines({kAlice, "garbage"}));
  auto reloaded = users->reload_if_changed();
  ASSERT_FALSE(reloaded);
  EXPECT_THAT(reloaded.error().message, HasSubstr(":2: expected"));
  EXPECT_TRUE(users->verify("alice", "tr0ub4dor&3"));
  EXPECT_FALSE(users->verify("alice", "s3cret"));
  EXPECT_TRUE(users->reload_if_changed());  // the same broken file is not reported twice
  // So does a vanished file; the fixed file is taken again.
  fs::remove(dir_->path() / "htpasswd");
  EXPECT_TRUE(users->verify("bob", "hunter2"));
  write(lines({kAlice}));
  EXPECT_TRUE(users->verify("alice", "s3cret"));
  EXPECT_FALSE(users->verify("bob", "hunter2"));
}

TEST_F(HtpasswdTest, LooksAtTheFileAtMostOncePerInterval) {
  auto users = load(lines({kAlice}), {.reload_interval = std::chrono::hours(1)});
  ASSERT_TRUE(users);
  write(lines({kBob}));
  EXPECT_TRUE(users->verify("alice", "s3cret"));  // not looked at yet
  EXPECT_FALSE(users->verify("bob", "hunter2"));
  ASSERT_TRUE(users->reload_if_changed());
  EXPECT_FALSE(users->verify("alice", "s3cret"));
  EXPECT_TRUE(users->verify("bob", "hunter2"));
}

TEST_F(HtpasswdTest, ConcurrentChecksAndReloads) {
  auto users = load(lines({kAlice, kDave}), {.reload_interval = std::chrono::milliseconds(0)});
  ASSERT_TRUE(users);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        if (!users->verify("dave", "correct horse")) ++wrong;
        if (users->verify("dave", "correct horse!")) ++wrong;
        if (t == 0 && i % 5 == 0)
          write(i % 10 == 0 ? lines({kDave, kAlice}) : lines({kAlice, kDave}));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(BasicAuthorization, ParsesOnlyWellFormedValues) {
  auto good = parse_basic_authorization("Basic " + oci::base64_encode("alice:s3:cret"));
  ASSERT_TRUE(good);
  EXPECT_EQ(good->user, "alice");
  EXPECT_EQ(good->password, "s3:cret");
  auto lower = parse_basic_authorization("basic   " + oci::base64_encode("bob:") + " ");
  ASSERT_TRUE(lower);
  EXPECT_EQ(lower->user, "bob");
  EXPECT_EQ(lower->password, "");
  auto anonymous = parse_basic_authorization("Basic Og==");  // skopeo without credentials
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->user, "");
  EXPECT_EQ(anonymous->password, "");
  for (std::string bad :
       {std::string(), std::string("Basic"), std::string("Basic "), std::string("Bearer abc"),
        "Basicx " + oci::base64_encode("a:b"), "Basic " + oci::base64_encode("nocolon"),
        std::string("Basic !!!!"), std::string("Basic abc"),
        "Basic " + oci::base64_encode("a:b") + " x", "Basic " + std::string(5000, 'A')})
    EXPECT_FALSE(parse_basic_authorization(bad)) << bad;
}
