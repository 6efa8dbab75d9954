#include "trust_test_support.hpp"

namespace mos::trust::testing {

const SharedKeyset& shared_keyset() {
  static SharedKeyset* keyset = [] {
    auto root = TempDir::create({}, "trust-unit-");
    EXPECT_TRUE(root);
    auto dir =
        create_keyset("unit", KeysetOptions{{"Test Org"}, KeyAlgorithm::rsa2048, 0}, root->path());
    EXPECT_TRUE(dir) << (dir ? "" : dir.error().message);
    return new SharedKeyset{std::move(*root), dir ? *dir : fs::path()};
  }();
  return *keyset;
}

Issued make_ca(std::string cn, KeyAlgorithm algorithm) {
  auto key = generate_key(algorithm);
  EXPECT_TRUE(key);
  CertificateSpec spec;
  spec.common_name = std::move(cn);
  spec.not_before = now() - std::chrono::hours(1);
  spec.not_after = add_years(now(), 10);
  spec.is_ca = true;
  auto cert = issue_certificate(spec, key->get());
  EXPECT_TRUE(cert) << (cert ? "" : cert.error().message);
  auto pem = certificate_pem(cert->get());
  return Issued{std::move(*key), std::move(*cert), *pem};
}

Issued make_leaf(const Issued& ca, std::string cn, TimePoint not_before, TimePoint not_after,
                 bool code_signing, KeyAlgorithm algorithm) {
  auto key = generate_key(algorithm);
  EXPECT_TRUE(key);
  CertificateSpec spec;
  spec.common_name = std::move(cn);
  spec.not_before = not_before;
  spec.not_after = not_after;
  spec.digital_signature = true;
  spec.code_signing = code_signing;
  auto cert = issue_certificate(spec, key->get(), ca.cert.get(), ca.key.get());
  EXPECT_TRUE(cert) << (cert ? "" : cert.error().message);
  auto pem = certificate_pem(cert->get());
  return Issued{std::move(*key), std::move(*cert), *pem};
}

}  // namespace mos::trust::testing
