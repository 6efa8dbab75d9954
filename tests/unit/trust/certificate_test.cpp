#include "trust/certificate.hpp"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "trust_test_support.hpp"
#include "unit/support/test_support.hpp"

using namespace mos;
using namespace mos::trust;
using namespace mos::trust::testing;
using namespace std::chrono_literals;
using mos::test::error_of;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

int critical_of(X509* cert, int nid) {
  int index = X509_get_ext_by_NID(cert, nid, -1);
  if (index < 0) return -1;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, index));
}

std::string hex(const ASN1_OCTET_STRING* s) {
  std::string out;
  for (int i = 0; s && i < ASN1_STRING_length(s); ++i)
    out += fmt::format("{:02x}", ASN1_STRING_get0_data(s)[i]);
  return out;
}

}  // namespace

TEST(Certificate, CaHasCriticalBasicConstraintsAndNoKeyUsage) {
  auto ca = make_ca("Manifest rootCA", KeyAlgorithm::rsa2048);
  EXPECT_EQ(critical_of(ca.cert.get(), NID_basic_constraints), 1);
  EXPECT_EQ(critical_of(ca.cert.get(), NID_key_usage), -1);
  EXPECT_EQ(critical_of(ca.cert.get(), NID_authority_key_identifier), -1);  // self-signed: no AKI
  auto info = certificate_info(ca.cert.get());
  EXPECT_TRUE(info.is_ca);
  EXPECT_FALSE(info.code_signing);
  EXPECT_EQ(info.common_name, "Manifest rootCA");
  EXPECT_EQ(info.key, "RSA-2048");
  EXPECT_EQ(info.subject, info.issuer);
  EXPECT_LE(info.serial.size(), 32u);
}

TEST(Certificate, LeafHasGoStyleKeyIdsAndUsages) {
  auto ca = make_ca("CA");
  auto leaf = make_leaf(ca, "leaf", now(), add_years(now(), 1));
  X509* cert = leaf.cert.get();
  EXPECT_EQ(critical_of(cert, NID_key_usage), 1);
  EXPECT_EQ(critical_of(cert, NID_basic_constraints), -1);
  EXPECT_EQ(X509_get_key_usage(cert), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(cert), static_cast<uint32_t>(XKU_CODE_SIGN));
  // SKI = SHA-1 of the whole SubjectPublicKeyInfo; AKI = the CA's SKI.
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(leaf.key.get(), &der);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(der, static_cast<size_t>(length), digest);
  OPENSSL_free(der);
  std::string expected;
  for (auto b : digest) expected += fmt::format("{:02x}", b);
  EXPECT_EQ(hex(X509_get0_subject_key_id(cert)), expected);
  EXPECT_EQ(hex(X509_get0_authority_key_id(cert)), hex(X509_get0_subject_key_id(ca.cert.get())));
}

TEST(Certificate, SubjectCarriesOrganizationUnitCnAndSerialNumberInOrder) {
  auto key = generate_key(KeyAlgorithm::ecdsa_p256);
  CertificateSpec spec;
  spec.organizations = {"Wowza inc", "Second"};
  spec.organizational_unit = "Project Machine Project zomg";
  spec.common_name = "SN0001";
  spec.serial_number_attribute = "PID:bc564363-2a8e-44fe-bb0e-54c7f9988ecf SN:SN0001";
  spec.not_before = now();
  spec.not_after = sudi_not_after();
  auto cert = issue_certificate(spec, key->get());
  ASSERT_TRUE(cert) << cert.error().message;
  auto info = certificate_info(cert->get());
  EXPECT_EQ(
      info.subject,
      "O = Wowza inc, O = Second, OU = Project Machine Project zomg, CN = SN0001, serialNumber = "
      "PID:bc564363-2a8e-44fe-bb0e-54c7f9988ecf SN:SN0001");
  EXPECT_EQ(format_time(info.not_after), "2099-12-31T23:00:00Z");
  EXPECT_EQ(info.sudi_product_uuid, "bc564363-2a8e-44fe-bb0e-54c7f9988ecf");
  EXPECT_FALSE(info.product_uuid);
  spec.serial_number_attribute = "PID:not-a-uuid SN:SN0001";
  auto other = issue_certificate(spec, key->get());
  ASSERT_TRUE(other);
  EXPECT_FALSE(certificate_info(other->get()).sudi_product_uuid);
}

TEST(Certificate, IssuerWithoutItsKeyIsRefused) {
  auto ca = make_ca("CA");
  auto key = generate_key(KeyAlgorithm::ecdsa_p256);
  CertificateSpec spec;
  spec.common_name = "x";
  EXPECT_THAT(error_of(issue_certificate(spec, key->get(), ca.cert.get(), nullptr)),
              HasSubstr("an issuer certificate needs its key"));
}

TEST(Certificate, TimesAreComputedLikeGo) {
  using namespace std::chrono;
  TimePoint leap = sys_days{year{2024} / February / 29} + 10h;
  EXPECT_EQ(format_time(add_years(leap, 25)), "2049-03-01T10:00:00Z");
  TimePoint plain = sys_days{year{2026} / November / 28} + 9h + 1min + 2s;
  EXPECT_EQ(format_time(add_years(plain, 50)), "2076-11-28T09:01:02Z");
  EXPECT_EQ(format_time(sudi_not_after()), "2099-12-31T23:00:00Z");
}

TEST(Certificate, ProductUuidComesFromTheManifestCn) {
  auto ca = make_ca("CA");
  auto leaf = make_leaf(ca, "manifest PRODUCT:bc564363-2a8e-44fe-bb0e-54c7f9988ecf", now(),
                        add_years(now(), 1));
  auto info = certificate_info(leaf.pem);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->product_uuid, "bc564363-2a8e-44fe-bb0e-54c7f9988ecf");
  auto other = make_leaf(ca, "manifest PRODUCT:not-a-uuid", now(), add_years(now(), 1));
  EXPECT_FALSE(certificate_info(other.pem)->product_uuid);
}

TEST(Certificate, ParsesSeveralCertificatesAndRefusesDamage) {
  auto a = make_ca("A");
  auto b = make_ca("B");
  auto both = parse_certificates_pem(a.pem + b.pem, "bundle");
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->size(), 2u);
  EXPECT_THAT(error_of(parse_certificates_pem("", "bundle")),
              HasSubstr("bundle: no -----BEGIN CERTIFICATE----- block"));
  std::string damaged = a.pem;
  damaged[damaged.size() / 2] = '*';
  auto bad = parse_certificate_pem(damaged, "damaged.pem");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("damaged.pem"));
}

TEST(VerifyCertificate, AcceptsALeafOfTheCa) {
  auto ca = make_ca("CA");
  auto leaf = make_leaf(ca, "manifest PRODUCT:bc564363-2a8e-44fe-bb0e-54c7f9988ecf", now() - 1h,
                        add_years(now(), 1));
  auto info = verify_certificate(leaf.pem, ca.pem);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->product_uuid, "bc564363-2a8e-44fe-bb0e-54c7f9988ecf");
  // Any of several CAs will do.
  auto other = make_ca("Other");
  EXPECT_TRUE(verify_certificate(leaf.pem, other.pem + ca.pem));
}

TEST(VerifyCertificate, EachFailureHasItsOwnMessage) {
  auto ca = make_ca("CA");
  auto other = make_ca("Other CA");
  auto good = make_leaf(ca, "good", now() - 1h, add_years(now(), 1));

  auto foreign = verify_certificate(good.pem, other.pem);
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message, StartsWith(kNotSignedByCa));

  // A forged certificate that is also expired is reported as forged.
  auto expired_foreign = make_leaf(other, "old", now() - 48h, now() - 24h);
  auto forged = verify_certificate(expired_foreign.pem, ca.pem);
  ASSERT_FALSE(forged);
  EXPECT_THAT(forged.error().message, StartsWith(kNotSignedByCa));

  auto expired = verify_certificate(make_leaf(ca, "old", now() - 48h, now() - 24h).pem, ca.pem);
  ASSERT_FALSE(expired);
  EXPECT_THAT(expired.error().message, StartsWith(kCertificateExpired));

  auto future = verify_certificate(make_leaf(ca, "new", now() + 24h, now() + 48h).pem, ca.pem);
  ASSERT_FALSE(future);
  EXPECT_THAT(future.error().message, StartsWith(kCertificateNotYetValid));

  auto no_eku =
      verify_certificate(make_leaf(ca, "tls", now() - 1h, now() + 24h, false).pem, ca.pem);
  ASSERT_FALSE(no_eku);
  EXPECT_THAT(no_eku.error().message, StartsWith(kMissingCodeSigning));
  VerifyOptions lenient;
  lenient.require_code_signing = false;
  EXPECT_TRUE(verify_certificate(make_leaf(ca, "tls", now() - 1h, now() + 24h, false).pem, ca.pem,
                                 lenient));

  auto malformed =
      verify_certificate("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", ca.pem);
  ASSERT_FALSE(malformed);
  EXPECT_THAT(malformed.error().message, StartsWith(kMalformedCertificate));
  auto no_pem = verify_certificate("plain text", ca.pem);
  ASSERT_FALSE(no_pem);
  EXPECT_THAT(no_pem.error().message, StartsWith(kMalformedCertificate));

  auto bad_ca = verify_certificate(good.pem, "junk");
  ASSERT_FALSE(bad_ca);
  EXPECT_THAT(bad_ca.error().message, StartsWith(kMalformedCa));
}

TEST(VerifyCertificate, PreparingBeforehandChangesNoResult) {
  auto ca = make_ca("CA");
  auto other = make_ca("Other CA");
  auto good = make_leaf(ca, "good", now() - 1h, add_years(now(), 1));
  // Damage, and a "CA" not signed by its own key, are skipped: what verifies after them is as
  // before.
  prepare_verification("junk");
  prepare_verification(good.pem);
  auto verified = verify_certificate(good.pem, ca.pem);
  ASSERT_TRUE(verified) << verified.error().message;
  // On another thread while this one verifies, as create-boot-fs runs it.
  std::jthread beside([&] { prepare_verification(ca.pem); });
  EXPECT_TRUE(verify_certificate(good.pem, ca.pem));
  auto foreign = verify_certificate(good.pem, other.pem);
  ASSERT_FALSE(foreign);
  EXPECT_THAT(foreign.error().message, StartsWith(kNotSignedByCa));
}

TEST(VerifyCertificate, TamperedCertificateIsNotSignedByTheCa) {
  auto ca = make_ca("CA", KeyAlgorithm::rsa2048);
  auto leaf = make_leaf(ca, "manifest PRODUCT:bc564363-2a8e-44fe-bb0e-54c7f9988ecf", now() - 1h,
                        now() + 24h);
  // Change the subject and re-encode without re-signing, as an attacker editing the CN would.
  X509_NAME* name = X509_get_subject_name(leaf.cert.get());
  X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, 0));
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(
                                 "manifest PRODUCT:00000000-2a8e-44fe-bb0e-54c7f9988ecf"),
                             -1, -1, 0);
  auto pem = certificate_pem(leaf.cert.get());
  ASSERT_TRUE(pem);
  auto status = verify_certificate(*pem, ca.pem);
  ASSERT_FALSE(status);
  EXPECT_THAT(status.error().message, StartsWith(kNotSignedByCa));
}

TEST(VerifyCertificate, ChecksTheCaValidityAndAnExplicitTime) {
  auto key = generate_key(KeyAlgorithm::ecdsa_p256);
  CertificateSpec spec;
  spec.common_name = "Short CA";
  spec.not_before = now() - 48h;
  spec.not_after = now() - 24h;
  spec.is_ca = true;
  auto ca_cert = issue_certificate(spec, key->get());
  Issued ca{std::move(*key), std::move(*ca_cert), {}};
  ca.pem = *certificate_pem(ca.cert.get());
  auto leaf = make_leaf(ca, "leaf", now() - 47h, now() + 24h);
  auto status = verify_certificate(leaf.pem, ca.pem);
  ASSERT_FALSE(status);
  EXPECT_THAT(status.error().message, StartsWith(kCaExpired));
  VerifyOptions back_then;
  back_then.at = now() - 30h;
  EXPECT_TRUE(verify_certificate(leaf.pem, ca.pem, back_then));
}
