#include "trust/signing.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "trust/keys.hpp"
#include "trust_test_support.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::trust;
using namespace mos::trust::testing;
using mos::test::error_of;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

struct Signer {
  std::string key_pem;
  std::string cert_pem;
};

Signer signer(KeyAlgorithm algorithm) {
  auto ca = make_ca("Signing CA");
  auto leaf = make_leaf(ca, "signer", now(), add_years(now(), 1), true, algorithm);
  return Signer{*private_key_pem(leaf.key.get()), leaf.pem};
}

}  // namespace

TEST(Signing, SignAndVerifyWithRsaAndEcdsa) {
  for (auto algorithm : {KeyAlgorithm::rsa2048, KeyAlgorithm::ecdsa_p256}) {
    Signer s = signer(algorithm);
    auto signature = sign_bytes(s.key_pem, "install.json bytes");
    ASSERT_TRUE(signature) << signature.error().message;
    if (algorithm == KeyAlgorithm::rsa2048) {
      EXPECT_EQ(signature->size(), 256u);
    }
    EXPECT_TRUE(verify_signature(s.cert_pem, *signature, "install.json bytes"));
    // One changed byte of content, or of the signature, is refused.
    auto changed = verify_signature(s.cert_pem, *signature, "install.json byteS");
    ASSERT_FALSE(changed);
    EXPECT_THAT(changed.error().message, StartsWith(kSignatureMismatch));
    std::string flipped = *signature;
    flipped[flipped.size() / 2] ^= 1;
    EXPECT_THAT(error_of(verify_signature(s.cert_pem, flipped, "install.json bytes")),
                StartsWith(kSignatureMismatch));
  }
}

TEST(Signing, OtherKeysSignatureIsRefused) {
  Signer a = signer(KeyAlgorithm::ecdsa_p256);
  Signer b = signer(KeyAlgorithm::ecdsa_p256);
  auto signature = sign_bytes(a.key_pem, "data");
  ASSERT_TRUE(signature);
  auto status = verify_signature(b.cert_pem, *signature, "data");
  ASSERT_FALSE(status);
  EXPECT_THAT(status.error().message, StartsWith(kSignatureMismatch));
}

TEST(Signing, RefusesEmptyGarbageAndHugeSignatures) {
  Signer s = signer(KeyAlgorithm::ecdsa_p256);
  auto empty = verify_signature(s.cert_pem, "", "data");
  ASSERT_FALSE(empty);
  EXPECT_THAT(empty.error().message, HasSubstr("the signature is empty"));
  EXPECT_THAT(error_of(verify_signature(s.cert_pem, "garbage", "data")),
              StartsWith(kSignatureMismatch));
  auto huge = verify_signature(s.cert_pem, std::string(100000, 'x'), "data");
  ASSERT_FALSE(huge);
  EXPECT_THAT(huge.error().message, HasSubstr("more than any supported key"));
  auto bad_cert = verify_signature("not a cert", "sig", "data");
  ASSERT_FALSE(bad_cert);
  EXPECT_THAT(bad_cert.error().message, HasSubstr("neither a PEM certificate"));
}

TEST(Signing, VerifiesWithAPublicKeyPem) {
  auto key = generate_key(KeyAlgorithm::rsa2048);
  ASSERT_TRUE(key);
  auto signature = sign_bytes(key->get(), "policy digest");
  ASSERT_TRUE(signature);
  EXPECT_TRUE(verify_signature(*public_key_pem(key->get()), *signature, "policy digest"));
}

TEST(Signing, FilesAreStreamedAndMatchByteSigning) {
  auto dir = TempDir::create();
  ASSERT_TRUE(dir);
  auto key = generate_key(KeyAlgorithm::rsa2048);
  ASSERT_TRUE(key);
  ASSERT_TRUE(write_file_atomic(dir->path() / "privkey.pem", *private_key_pem(key->get()), 0600));
  // Larger than one read chunk, so the streaming path joins several updates.
  std::string content(200000, 'm');
  content += "end";
  ASSERT_TRUE(write_file_atomic(dir->path() / "f", content));
  auto from_file = sign_file(dir->path() / "privkey.pem", dir->path() / "f");
  ASSERT_TRUE(from_file) << from_file.error().message;
  auto from_bytes = sign_bytes_with_key_file(dir->path() / "privkey.pem", content);
  ASSERT_TRUE(from_bytes);
  EXPECT_EQ(*from_file, *from_bytes);  // RSA PKCS#1 v1.5 is deterministic
  auto pub = *public_key_pem(key->get());
  EXPECT_TRUE(verify_file_signature(pub, *from_file, dir->path() / "f"));
  auto missing = sign_file(dir->path() / "privkey.pem", dir->path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("cannot open"));
  EXPECT_THAT(error_of(verify_file_signature(pub, *from_file, dir->path() / "nope")),
              HasSubstr("cannot open"));
  auto no_key = sign_file(dir->path() / "absent.pem", dir->path() / "f");
  ASSERT_FALSE(no_key);
  EXPECT_THAT(no_key.error().message, HasSubstr("reading private key"));
}
