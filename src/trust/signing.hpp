#pragma once
// Detached signatures over files and byte strings: SHA-256 with the key's own scheme — RSA
// PKCS#1 v1.5 (the original's only kind) or ECDSA (DER) — the bytes `openssl dgst -sha256
// -sign privkey.pem` writes and `openssl dgst -sha256 -verify` accepts.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "trust/openssl.hpp"

namespace mos::trust {

Result<std::string> sign_bytes(EVP_PKEY* key, std::string_view bytes);
// The key as PEM text (PKCS#8, PKCS#1 or SEC1).
Result<std::string> sign_bytes(std::string_view private_key_pem, std::string_view bytes);
Result<std::string> sign_bytes_with_key_file(const std::filesystem::path& private_key,
                                             std::string_view bytes);
// Streams the file through the digest (never held in memory).
Result<std::string> sign_file(const std::filesystem::path& private_key,
                              const std::filesystem::path& file);

// Beginning of the message when the signature does not match (the bytes or the key differ).
inline constexpr std::string_view kSignatureMismatch = "signature does not match";

// public_pem: a certificate or a PUBLIC KEY PEM. RSA (PKCS#1 v1.5) and ECDSA, SHA-256.
Status verify_signature(std::string_view public_pem, std::string_view signature,
                        std::string_view bytes);
Status verify_file_signature(std::string_view public_pem, std::string_view signature,
                             const std::filesystem::path& file);

}  // namespace mos::trust
