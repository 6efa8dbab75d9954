#include "trust/keys.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>

#include "trust/names.hpp"
#include "trust/rsa_keygen.hpp"
#include "trust_test_support.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::trust;
using mos::test::error_of;
using ::testing::HasSubstr;

TEST(Names, AcceptsOrdinaryNames) {
  for (auto name :
       {"snakeoil", "default", "SN0001", "88db65c5-1f43-4b0c-9a77-0f6b8f4d6d8e", "a b", "x.y"})
    EXPECT_TRUE(validate_name("keyset name", name)) << name;
}

TEST(Names, RefusesNamesThatEscapeOrHide) {
  struct Case {
    std::string name;
    std::string expected;
  } cases[] = {{"", "it is empty"},
               {"a/b", "'/'"},
               {"..", "'..'"},
               {"a..b", "'..'"},
               {".hidden", "starts with '.'"},
               {std::string("a\nb"), "control character"},
               {std::string("a\0b", 3), "control character"},
               {"a\x7f", "control character"},
               {"ks:proj", "':'"},
               {std::string(300, 'a'), "longer than 255"}};
  for (const auto& c : cases) {
    auto status = validate_name("project name", c.name);
    ASSERT_FALSE(status) << c.name;
    EXPECT_THAT(status.error().message, HasSubstr("invalid project name"));
    EXPECT_THAT(status.error().message, HasSubstr(c.expected));
  }
  // The control character is shown escaped, keeping the message on one line.
  auto status = validate_name("keyset name", "a\nb");
  EXPECT_THAT(status.error().message, HasSubstr("a\\x0ab"));
}

TEST(Keys, ParsesAlgorithmNames) {
  EXPECT_EQ(*parse_key_algorithm("rsa2048"), KeyAlgorithm::rsa2048);
  EXPECT_EQ(*parse_key_algorithm("rsa4096"), KeyAlgorithm::rsa4096);
  EXPECT_EQ(*parse_key_algorithm("ecdsa-p256"), KeyAlgorithm::ecdsa_p256);
  auto bad = parse_key_algorithm("dsa");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("expected rsa2048, rsa4096 or ecdsa-p256"));
  for (auto a : {KeyAlgorithm::rsa2048, KeyAlgorithm::rsa4096, KeyAlgorithm::ecdsa_p256})
    EXPECT_EQ(*parse_key_algorithm(key_algorithm_name(a)), a);
}

TEST(Keys, RsaKeysAreFullLengthAndPassOpensslsFullCheck) {
  for (int bits : {2048, 4096}) {
    auto key = generate_rsa_key(bits);
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(EVP_PKEY_get_bits(key->get()), bits);
    BIGNUM* e = nullptr;
    ASSERT_EQ(EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
    EXPECT_EQ(BN_get_word(e), 65537u);
    BN_free(e);
    // EVP_PKEY_check runs OpenSSL's full SP 800-56B key validation, primality included.
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
    EXPECT_EQ(EVP_PKEY_check(ctx.get()), 1) << openssl_errors();
  }
  EXPECT_THAT(error_of(generate_rsa_key(1024)),
              HasSubstr("an even number of bits, at least 2048 (asked 1024)"));
  EXPECT_THAT(error_of(generate_rsa_key(2049)),
              HasSubstr("an even number of bits, at least 2048 (asked 2049)"));
}

TEST(Keys, GeneratesEveryAlgorithm) {
  auto ec = generate_key(KeyAlgorithm::ecdsa_p256);
  ASSERT_TRUE(ec);
  EXPECT_EQ(describe_key(ec->get()), "ECDSA-prime256v1");
  auto rsa = generate_key(KeyAlgorithm::rsa2048);
  ASSERT_TRUE(rsa);
  EXPECT_EQ(describe_key(rsa->get()), "RSA-2048");
}

TEST(Keys, GeneratesManyKeysInParallelAndAllDiffer) {
  std::vector<KeyAlgorithm> algorithms(4, KeyAlgorithm::rsa2048);
  algorithms.push_back(KeyAlgorithm::ecdsa_p256);
  auto keys = generate_keys(algorithms, 2);
  ASSERT_TRUE(keys) << keys.error().message;
  ASSERT_EQ(keys->size(), 5u);
  for (std::size_t i = 0; i < keys->size(); ++i)
    for (std::size_t j = i + 1; j < keys->size(); ++j)
      EXPECT_NE(EVP_PKEY_eq((*keys)[i].get(), (*keys)[j].get()), 1);
  EXPECT_TRUE(EVP_PKEY_is_a((*keys)[4].get(), "EC"));
}

TEST(Keys, PemRoundTripIsPkcs8) {
  auto key = generate_key(KeyAlgorithm::ecdsa_p256);
  ASSERT_TRUE(key);
  auto pem = private_key_pem(key->get());
  ASSERT_TRUE(pem);
  EXPECT_TRUE(pem->starts_with("-----BEGIN PRIVATE KEY-----\n"));
  auto back = parse_private_key_pem(*pem, "test key");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(EVP_PKEY_eq(key->get(), back->get()), 1);
  auto pub = public_key_pem(key->get());
  ASSERT_TRUE(pub);
  auto pub_key = parse_public_key_pem(*pub, "test public key");
  ASSERT_TRUE(pub_key) << pub_key.error().message;
  EXPECT_EQ(EVP_PKEY_eq(key->get(), pub_key->get()), 1);
}

TEST(Keys, RefusesBadPrivateKeys) {
  auto none = parse_private_key_pem("hello", "k.pem");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("k.pem is not a PEM private key"));
  auto broken = parse_private_key_pem(
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "k.pem");
  ASSERT_FALSE(broken);
  EXPECT_THAT(broken.error().message, HasSubstr("k.pem is not a valid PEM private key"));
  auto encrypted = parse_private_key_pem("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n", "k.pem");
  ASSERT_FALSE(encrypted);
  EXPECT_THAT(encrypted.error().message, HasSubstr("encrypted"));
  auto missing = load_private_key("/nonexistent/privkey.pem");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("reading private key /nonexistent/privkey.pem"));
  auto pub = parse_public_key_pem("junk", "c.pem");
  ASSERT_FALSE(pub);
  EXPECT_THAT(pub.error().message, HasSubstr("neither a PEM certificate nor a PEM public key"));
}
