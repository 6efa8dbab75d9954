#pragma once
// X.509 certificates of a keyset: issuing them with the original's subjects and extensions, and
// checking a manifest signing certificate against its CA with one distinct message per failure
// (manifest verification tells tampering cases apart by these messages).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "trust/openssl.hpp"

namespace mos::trust {

using Clock = std::chrono::system_clock;
using TimePoint = std::chrono::sys_seconds;

// What to put in a certificate. Extensions follow the original (Go crypto/x509): CAs get a
// critical basicConstraints CA:TRUE and no keyUsage; leaves get a critical keyUsage, the
// extended usages asked for, and an SKI that is SHA-1 of the whole SubjectPublicKeyInfo;
// CA-issued certificates carry the issuer's SKI as AKI.
struct CertificateSpec {
  std::vector<std::string> organizations;  // O, in order (absent when empty)
  std::string organizational_unit;         // OU (absent when empty)
  std::string common_name;                 // CN
  std::string serial_number_attribute;     // subject serialNumber 2.5.4.5 (absent when empty)
  TimePoint not_before;
  TimePoint not_after;
  bool is_ca = false;
  // keyUsage bits of leaves (ignored for CAs).
  bool digital_signature = false;
  bool key_encipherment = false;
  bool data_encipherment = false;
  // extendedKeyUsage of leaves.
  bool code_signing = false;
  bool server_auth = false;
  bool client_auth = false;
};

// Issues a certificate for subject_key, signed with SHA-256 by issuer_key under issuer (both
// null = self-signed). The serial is random in [1, 2^128).
Result<X509Ptr> issue_certificate(const CertificateSpec& spec, EVP_PKEY* subject_key,
                                  X509* issuer = nullptr, EVP_PKEY* issuer_key = nullptr);

Result<std::string> certificate_pem(X509* cert);
// The first certificate of a PEM text; `what` names it in errors ("malformed certificate PEM").
Result<X509Ptr> parse_certificate_pem(std::string_view pem, std::string_view what);
// Every certificate of a PEM text (at least one).
Result<std::vector<X509Ptr>> parse_certificates_pem(std::string_view pem, std::string_view what);

// now + years, keeping month, day and time like Go's AddDate (Feb 29 rolls to Mar 1).
TimePoint add_years(TimePoint from, int years);
// The fixed end of SUDI validity in the original: 2099-12-31T23:00:00Z.
TimePoint sudi_not_after();
// "2046-11-28T09:10:11Z".
std::string format_time(TimePoint time);

struct CertificateInfo {
  std::string subject;  // one-line RFC 2253 form
  std::string issuer;
  std::string common_name;                  // subject CN ("" if none)
  std::optional<std::string> product_uuid;  // from CN "manifest PRODUCT:<uuid>"
  // A SUDI's product, from its subject serialNumber "PID:<uuid> SN:<serial>" (trust sudi add).
  std::optional<std::string> sudi_product_uuid;
  TimePoint not_before;
  TimePoint not_after;
  std::string serial;  // lowercase hex, no leading zeros
  std::string key;     // "RSA-2048", "ECDSA-prime256v1"
  bool is_ca = false;
  bool code_signing = false;  // extendedKeyUsage includes codeSigning
};

Result<CertificateInfo> certificate_info(std::string_view cert_pem);
CertificateInfo certificate_info(X509* cert);

// The stable beginnings of verify_certificate's messages, for callers that must tell the cases
// apart (tests, mosb manifest verify). Each message continues with the details.
inline constexpr std::string_view kMalformedCertificate = "malformed certificate PEM";
inline constexpr std::string_view kMalformedCa = "malformed CA certificate PEM";
inline constexpr std::string_view kNotSignedByCa = "certificate is not signed by the trusted CA";
inline constexpr std::string_view kCertificateExpired = "certificate has expired";
inline constexpr std::string_view kCertificateNotYetValid = "certificate is not yet valid";
inline constexpr std::string_view kCaExpired = "CA certificate has expired";
inline constexpr std::string_view kCaNotYetValid = "CA certificate is not yet valid";
inline constexpr std::string_view kMissingCodeSigning =
    "certificate lacks the code-signing extended key usage";

struct VerifyOptions {
  std::optional<TimePoint> at;  // default: now
  bool require_code_signing = true;
};

// Checks, in this order: cert_pem parses; ca_pems (one or more concatenated PEM certificates)
// parse; the certificate chains to one of them by signature (times ignored in this step, so a
// forged certificate is always reported as such, never as "expired"); leaf and CA validity at
// `at`; the code-signing extended key usage. Returns the leaf's details.
Result<CertificateInfo> verify_certificate(std::string_view cert_pem, std::string_view ca_pems,
                                           const VerifyOptions& options = {});

// OpenSSL 3 loads its default provider and builds its tables of each kind of algorithm (digests,
// signatures, key types) on their first use in a process: ~8k blocks of new code, a fifth of a
// second under emulation. A program that verifies against ca_pems later can have that done
// beforehand, on another thread beside its other work: this parses them and checks the first
// one's own signature, as verify_certificate and verify_signature will, and keeps nothing (the
// later verification reports whatever is wrong).
void prepare_verification(std::string_view ca_pems);

}  // namespace mos::trust
