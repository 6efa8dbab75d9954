#include "trust/certificate.hpp"

#include <cctype>
#include <ctime>
#include <span>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "core/text.hpp"
#include "trust/keys.hpp"

namespace mos::trust {

namespace {

constexpr std::string_view kProductPrefix = "manifest PRODUCT:";

// Go's choice of string type: PrintableString when every character allows it, else UTF8String.
bool is_printable_string(std::string_view value) {
  for (unsigned char c : value)
    if (!std::isalnum(c) &&
        std::string_view(" '()+,-./:=?").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  return true;
}

Status add_name_entry(X509_NAME* name, int nid, std::string_view value) {
  if (value.empty()) return {};
  // An explicit string type skips OpenSSL's upper bounds (64 for CN and serialNumber), which
  // Go does not apply: "PID:<uuid> SN:<uuid>" is 80 characters.
  int type = is_printable_string(value) ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING;
  if (X509_NAME_add_entry_by_NID(name, nid, type,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1)
    return fail("cannot put '{}' into a certificate subject: {}", value,
                openssl_reason("rejected"));
  return {};
}

Status set_time(ASN1_TIME* field, TimePoint time) {
  // ASN1_TIME_set picks UTCTime up to 2049 and GeneralizedTime after, as RFC 5280 and Go do.
  if (ASN1_TIME_set(field, static_cast<time_t>(time.time_since_epoch().count())) == nullptr)
    return fail("cannot set a certificate time: {}", openssl_reason("out of range"));
  return {};
}

Result<std::string> sha1_key_id(std::span<const unsigned char> bytes) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  if (EVP_Digest(bytes.data(), bytes.size(), digest, nullptr, EVP_sha1(), nullptr) != 1)
    return fail("cannot hash the public key: {}", openssl_reason("SHA-1 unavailable"));
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

// CAs: SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 method 1, what Go fills
// in). Leaves: the original sets SHA-1 of the whole SubjectPublicKeyInfo DER explicitly.
Result<std::string> subject_key_id(X509* cert, EVP_PKEY* key, bool is_ca) {
  if (is_ca) {
    const unsigned char* bits = nullptr;
    int length = 0;
    if (X509_PUBKEY_get0_param(nullptr, &bits, &length, nullptr, X509_get_X509_PUBKEY(cert)) != 1)
      return fail("cannot read the certificate's public key: {}", openssl_reason("no key"));
    return sha1_key_id({bits, static_cast<std::size_t>(length)});
  }
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(key, &der);
  if (length <= 0)
    return fail("cannot encode the public key: {}", openssl_reason("encoding failed"));
  auto id = sha1_key_id({der, static_cast<std::size_t>(length)});
  OPENSSL_free(der);
  return id;
}

Status add_extension(X509* cert, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
    return fail("cannot add the {} extension: {}", OBJ_nid2sn(nid), openssl_reason("rejected"));
  return {};
}

Status add_extensions(const CertificateSpec& spec, X509* cert, EVP_PKEY* key, X509* issuer) {
  if (spec.is_ca) {
    BASIC_CONSTRAINTS* constraints = BASIC_CONSTRAINTS_new();
    constraints->ca = 1;
    auto added = add_extension(cert, NID_basic_constraints, constraints, true);
    BASIC_CONSTRAINTS_free(constraints);
    MOS_TRY(added);
  } else {
    ASN1_BIT_STRING* usage = ASN1_BIT_STRING_new();
    if (spec.digital_signature) ASN1_BIT_STRING_set_bit(usage, 0, 1);
    if (spec.key_encipherment) ASN1_BIT_STRING_set_bit(usage, 2, 1);
    if (spec.data_encipherment) ASN1_BIT_STRING_set_bit(usage, 3, 1);
    auto added = add_extension(cert, NID_key_usage, usage, true);
    ASN1_BIT_STRING_free(usage);
    MOS_TRY(added);
    if (spec.code_signing || spec.server_auth || spec.client_auth) {
      EXTENDED_KEY_USAGE* usages = sk_ASN1_OBJECT_new_null();
      if (spec.server_auth) sk_ASN1_OBJECT_push(usages, OBJ_nid2obj(NID_server_auth));
      if (spec.client_auth) sk_ASN1_OBJECT_push(usages, OBJ_nid2obj(NID_client_auth));
      if (spec.code_signing) sk_ASN1_OBJECT_push(usages, OBJ_nid2obj(NID_code_sign));
      auto added_eku = add_extension(cert, NID_ext_key_usage, usages, false);
      sk_ASN1_OBJECT_pop_free(usages, ASN1_OBJECT_free);
      MOS_TRY(added_eku);
    }
  }
  MOS_TRY_ASSIGN(std::string ski, subject_key_id(cert, key, spec.is_ca));
  ASN1_OCTET_STRING* ski_value = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(ski_value, reinterpret_cast<const unsigned char*>(ski.data()),
                        static_cast<int>(ski.size()));
  auto added_ski = add_extension(cert, NID_subject_key_identifier, ski_value, false);
  ASN1_OCTET_STRING_free(ski_value);
  MOS_TRY(added_ski);
  if (issuer != nullptr) {
    if (const ASN1_OCTET_STRING* issuer_id = X509_get0_subject_key_id(issuer)) {
      AUTHORITY_KEYID* authority = AUTHORITY_KEYID_new();
      authority->keyid = ASN1_OCTET_STRING_dup(issuer_id);
      auto added = add_extension(cert, NID_authority_key_identifier, authority, false);
      AUTHORITY_KEYID_free(authority);
      MOS_TRY(added);
    }
  }
  return {};
}

TimePoint from_asn1_time(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return TimePoint{};
  return TimePoint{std::chrono::seconds{timegm(&tm)}};
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  return bio_contents(bio.get());
}

std::string name_entry_of(const X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  unsigned char* utf8 = nullptr;
  int length =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  if (length < 0) return {};
  std::string value(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return value;
}

}  // namespace

TimePoint add_years(TimePoint from, int years) {
  std::time_t t = static_cast<std::time_t>(from.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  tm.tm_year += years;
  return TimePoint{std::chrono::seconds{timegm(&tm)}};
}

TimePoint sudi_not_after() {
  using namespace std::chrono;
  return sys_days{year{2099} / December / 31} + hours{23};
}

std::string format_time(TimePoint time) {
  std::time_t t = static_cast<std::time_t>(time.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

Result<X509Ptr> issue_certificate(const CertificateSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                                  EVP_PKEY* issuer_key) {
  if ((issuer == nullptr) != (issuer_key == nullptr))
    return fail("issuing '{}': an issuer certificate needs its key and the other way round",
                spec.common_name);
  openssl_errors();
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return fail("cannot create a certificate: {}", openssl_reason("out of memory"));

  BignumPtr serial(BN_new());
  do {
    if (!serial || BN_rand(serial.get(), 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
      return fail("cannot draw a certificate serial: {}", openssl_reason("no randomness"));
  } while (BN_is_zero(serial.get()));
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
    return fail("cannot set the certificate serial: {}", openssl_reason("encoding failed"));

  X509_NAME* subject = X509_get_subject_name(cert.get());
  for (const auto& org : spec.organizations)
    MOS_TRY(add_name_entry(subject, NID_organizationName, org));
  MOS_TRY(add_name_entry(subject, NID_organizationalUnitName, spec.organizational_unit));
  MOS_TRY(add_name_entry(subject, NID_commonName, spec.common_name));
  MOS_TRY(add_name_entry(subject, NID_serialNumber, spec.serial_number_attribute));
  if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1)
    return fail("cannot set the issuer of '{}': {}", spec.common_name, openssl_reason("rejected"));

  MOS_TRY(set_time(X509_getm_notBefore(cert.get()), spec.not_before));
  MOS_TRY(set_time(X509_getm_notAfter(cert.get()), spec.not_after));
  if (X509_set_pubkey(cert.get(), subject_key) != 1)
    return fail("cannot set the public key of '{}': {}", spec.common_name,
                openssl_reason("rejected"));
  MOS_TRY(add_extensions(spec, cert.get(), subject_key, issuer));

  EVP_PKEY* signer = issuer_key ? issuer_key : subject_key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0)
    return fail("cannot sign the certificate '{}': {}", spec.common_name,
                openssl_reason("signing failed"));
  return cert;
}

Result<std::string> certificate_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return fail("cannot encode a certificate as PEM: {}", openssl_reason("encoding failed"));
  return bio_contents(bio.get());
}

Result<std::vector<X509Ptr>> parse_certificates_pem(std::string_view pem, std::string_view what) {
  openssl_errors();
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos)
    return fail("{}: no -----BEGIN CERTIFICATE----- block", what);
  BioPtr bio = memory_bio(pem);
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certs.emplace_back(cert);
  std::string reason = openssl_errors();
  // Reading stops with "no start line" after the last block; anything else is damage.
  if (certs.empty() || (!reason.empty() && reason != "no start line"))
    return fail("{}: {}", what, reason.empty() ? "unreadable" : reason);
  return certs;
}

Result<X509Ptr> parse_certificate_pem(std::string_view pem, std::string_view what) {
  MOS_TRY_ASSIGN(auto certs, parse_certificates_pem(pem, what));
  return std::move(certs.front());
}

CertificateInfo certificate_info(X509* cert) {
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(cert));
  info.issuer = name_text(X509_get_issuer_name(cert));
  info.common_name = name_entry_of(X509_get_subject_name(cert), NID_commonName);
  if (std::string_view cn = info.common_name; cn.starts_with(kProductPrefix)) {
    cn.remove_prefix(kProductPrefix.size());
    if (is_uuid(cn)) info.product_uuid = std::string(cn);
  }
  const std::string serial_attribute = name_entry_of(X509_get_subject_name(cert), NID_serialNumber);
  if (std::string_view pid = serial_attribute; pid.starts_with("PID:")) {
    pid.remove_prefix(4);
    pid = pid.substr(0, pid.find(' '));
    if (is_uuid(pid)) info.sudi_product_uuid = std::string(pid);
  }
  info.not_before = from_asn1_time(X509_get0_notBefore(cert));
  info.not_after = from_asn1_time(X509_get0_notAfter(cert));
  if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(serial)) {
      info.serial = hex;
      OPENSSL_free(hex);
      info.serial = to_lower_ascii(info.serial);
    }
    BN_free(serial);
  }
  if (EVP_PKEY* key = X509_get0_pubkey(cert)) info.key = describe_key(key);
  uint32_t flags = X509_get_extension_flags(cert);
  info.is_ca = (flags & EXFLAG_CA) != 0;
  info.code_signing =
      (flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(cert) & XKU_CODE_SIGN);
  return info;
}

Result<CertificateInfo> certificate_info(std::string_view cert_pem) {
  MOS_TRY_ASSIGN(auto cert, parse_certificate_pem(cert_pem, kMalformedCertificate));
  return certificate_info(cert.get());
}

Result<CertificateInfo> verify_certificate(std::string_view cert_pem, std::string_view ca_pems,
                                           const VerifyOptions& options) {
  MOS_TRY_ASSIGN(auto leaf, parse_certificate_pem(cert_pem, kMalformedCertificate));
  MOS_TRY_ASSIGN(auto cas, parse_certificates_pem(ca_pems, kMalformedCa));
  CertificateInfo info = certificate_info(leaf.get());

  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return fail("cannot set up certificate verification: out of memory");
  for (auto& ca : cas)
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1)
      return fail("cannot use a CA certificate: {}", openssl_reason("rejected"));
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1)
    return fail("cannot set up certificate verification: {}", openssl_reason("init failed"));
  // Signatures first with times ignored: every given CA is a trust anchor (partial chains).
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    openssl_errors();
    return fail("{}: {} (subject {}, issuer {})", kNotSignedByCa,
                X509_verify_cert_error_string(error), info.subject, info.issuer);
  }

  TimePoint at =
      options.at.value_or(std::chrono::time_point_cast<std::chrono::seconds>(Clock::now()));
  if (at < info.not_before)
    return fail("{}: valid from {}, checked at {} ({})", kCertificateNotYetValid,
                format_time(info.not_before), format_time(at), info.subject);
  if (at > info.not_after)
    return fail("{}: valid until {}, checked at {} ({})", kCertificateExpired,
                format_time(info.not_after), format_time(at), info.subject);
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 1; chain != nullptr && i < sk_X509_num(chain); ++i) {
    CertificateInfo ca = certificate_info(sk_X509_value(chain, i));
    if (at < ca.not_before)
      return fail("{}: {} is valid from {}, checked at {}", kCaNotYetValid, ca.subject,
                  format_time(ca.not_before), format_time(at));
    if (at > ca.not_after)
      return fail("{}: {} was valid until {}, checked at {}", kCaExpired, ca.subject,
                  format_time(ca.not_after), format_time(at));
  }
  if (options.require_code_signing && !info.code_signing)
    return fail("{} ({})", kMissingCodeSigning, info.subject);
  return info;
}

void prepare_verification(std::string_view ca_pems) {
  auto cas = parse_certificates_pem(ca_pems, kMalformedCa);
  if (cas && X509_verify(cas->front().get(), X509_get0_pubkey(cas->front().get())) != 1)
    openssl_errors();  // a CA not signed by its own key verifies nothing here
}

}  // namespace mos::trust
