#include "trust/keys.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "core/file.hpp"
#include "trust/rsa_keygen.hpp"

namespace mos::trust {

namespace {

// A PEM key file is a few KiB; anything larger is not a key.
constexpr std::size_t kMaxKeyFile = 1 << 20;

// Refuses the passphrase prompt OpenSSL would otherwise show for an encrypted key.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

}  // namespace

Result<KeyAlgorithm> parse_key_algorithm(std::string_view name) {
  if (name == "rsa2048") return KeyAlgorithm::rsa2048;
  if (name == "rsa4096") return KeyAlgorithm::rsa4096;
  if (name == "ecdsa-p256") return KeyAlgorithm::ecdsa_p256;
  return fail("unknown key algorithm '{}': expected rsa2048, rsa4096 or ecdsa-p256", name);
}

std::string_view key_algorithm_name(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::rsa2048:
      return "rsa2048";
    case KeyAlgorithm::rsa4096:
      return "rsa4096";
    case KeyAlgorithm::ecdsa_p256:
      return "ecdsa-p256";
  }
  return "unknown";
}

Result<PkeyPtr> generate_key(KeyAlgorithm algorithm) {
  EVP_PKEY* key = nullptr;
  switch (algorithm) {
    case KeyAlgorithm::rsa2048:
    case KeyAlgorithm::rsa4096:
      return generate_rsa_key(algorithm == KeyAlgorithm::rsa2048 ? 2048 : 4096);
    case KeyAlgorithm::ecdsa_p256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
  }
  if (key == nullptr)
    return fail("cannot generate a {} key: {}", key_algorithm_name(algorithm),
                openssl_reason("key generation failed"));
  return PkeyPtr(key);
}

Result<std::vector<PkeyPtr>> generate_keys(const std::vector<KeyAlgorithm>& algorithms,
                                           unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min<unsigned>(threads, static_cast<unsigned>(algorithms.size()));
  std::vector<std::optional<Result<PkeyPtr>>> results(algorithms.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < algorithms.size();)
      results[i] = generate_key(algorithms[i]);
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();  // the calling thread is one of the workers
  }
  std::vector<PkeyPtr> keys;
  keys.reserve(algorithms.size());
  for (auto& result : results) {
    if (!*result) return std::unexpected(std::move(*result).error());
    keys.push_back(std::move(**result));
  }
  return keys;
}

Result<std::string> private_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail("cannot encode the private key as PEM: {}", openssl_reason("encoding failed"));
  return bio_contents(bio.get());
}

Result<std::string> public_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    return fail("cannot encode the public key as PEM: {}", openssl_reason("encoding failed"));
  return bio_contents(bio.get());
}

Result<PkeyPtr> parse_private_key_pem(std::string_view pem, std::string_view what) {
  openssl_errors();
  if (pem.find("-----BEGIN") == std::string_view::npos)
    return fail("{} is not a PEM private key (no -----BEGIN line)", what);
  if (pem.find("ENCRYPTED") != std::string_view::npos)
    return fail("{} is an encrypted private key; trust needs an unencrypted PKCS#8 key", what);
  BioPtr bio = memory_bio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
  if (key == nullptr)
    return fail("{} is not a valid PEM private key: {}", what, openssl_reason("unreadable"));
  return PkeyPtr(key);
}

Result<PkeyPtr> load_private_key(const std::filesystem::path& path) {
  auto pem = read_file(path, kMaxKeyFile);
  if (!pem) return context(fmt::format("reading private key {}", path.string()), pem.error());
  return parse_private_key_pem(*pem, path.string());
}

Result<PkeyPtr> parse_public_key_pem(std::string_view pem, std::string_view what) {
  openssl_errors();
  BioPtr bio = memory_bio(pem);
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert)
      return fail("{} is not a valid PEM certificate: {}", what, openssl_reason("unreadable"));
    EVP_PKEY* key = X509_get_pubkey(cert.get());
    if (key == nullptr)
      return fail("{}: cannot read the certificate's public key: {}", what,
                  openssl_reason("unsupported key"));
    return PkeyPtr(key);
  }
  if (pem.find("-----BEGIN PUBLIC KEY-----") != std::string_view::npos) {
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
    if (key == nullptr)
      return fail("{} is not a valid PEM public key: {}", what, openssl_reason("unreadable"));
    return PkeyPtr(key);
  }
  return fail("{} is neither a PEM certificate nor a PEM public key", what);
}

std::string describe_key(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) return fmt::format("RSA-{}", EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) == 1)
      return fmt::format("ECDSA-{}", group);
    return "ECDSA";
  }
  const char* name = EVP_PKEY_get0_type_name(key);
  return name ? name : "unknown";
}

}  // namespace mos::trust
