#pragma once
// Private keys: generation (RSA for everything firmware and the TPM read, a stronger choice for
// manifest signing keys), PEM encoding as unencrypted PKCS#8 like the original, and loading.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "trust/openssl.hpp"

namespace mos::trust {

enum class KeyAlgorithm { rsa2048, rsa4096, ecdsa_p256 };

// "rsa2048", "rsa4096", "ecdsa-p256".
Result<KeyAlgorithm> parse_key_algorithm(std::string_view name);
std::string_view key_algorithm_name(KeyAlgorithm algorithm);

Result<PkeyPtr> generate_key(KeyAlgorithm algorithm);

// Generates several keys at once on up to `threads` threads (0 = one per core): RSA key
// generation dominates keyset creation, and keys are independent.
Result<std::vector<PkeyPtr>> generate_keys(const std::vector<KeyAlgorithm>& algorithms,
                                           unsigned threads = 0);

// "-----BEGIN PRIVATE KEY-----" (PKCS#8, unencrypted), as the original writes privkey.pem.
Result<std::string> private_key_pem(EVP_PKEY* key);
// "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo).
Result<std::string> public_key_pem(EVP_PKEY* key);

// Reads PKCS#8, PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY") PEM; `what` names the
// source in errors. Encrypted keys are refused (no passphrase prompt in a build tool).
Result<PkeyPtr> parse_private_key_pem(std::string_view pem, std::string_view what);
Result<PkeyPtr> load_private_key(const std::filesystem::path& path);

// A public key from a certificate PEM or a "PUBLIC KEY" PEM.
Result<PkeyPtr> parse_public_key_pem(std::string_view pem, std::string_view what);

// "RSA-2048", "ECDSA-P256"... for messages and `project show`.
std::string describe_key(EVP_PKEY* key);

}  // namespace mos::trust
