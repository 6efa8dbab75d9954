#pragma once
// SHA-256 values as the TPM handles them: PCR values, event digests, policy digests. Fixed-size
// arrays rather than strings, so a truncated or hex-encoded value cannot pass for one.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace mos::tpm {

inline constexpr std::size_t kSha256Size = 32;
using Sha256 = std::array<std::uint8_t, kSha256Size>;

// The digest of the concatenated parts (OpenSSL EVP). OpenSSL's SHA-256 fails only when it
// cannot allocate its context; that ends the process, as any allocation failure does.
Sha256 sha256(std::string_view bytes);
Sha256 sha256_of_parts(std::initializer_list<std::string_view> parts);

// TPM2_PCR_Extend with SHA-256: the new value is SHA256(pcr || digest).
Sha256 extend(const Sha256& pcr, const Sha256& digest);

// The 32 bytes as a string_view (they live as long as the array).
inline std::string_view bytes_of(const Sha256& value) {
  return {reinterpret_cast<const char*>(value.data()), value.size()};
}

// Lowercase hex, 64 characters.
std::string to_hex(const Sha256& value);

// Exactly 64 hex digits (either case); `what` names the value in the message.
Result<Sha256> parse_sha256_hex(std::string_view text, std::string_view what);

// Exactly 32 raw bytes, as the original's pcr_*.bin and *_policy.out files hold them.
Result<Sha256> sha256_from_bytes(std::string_view bytes, std::string_view what);

}  // namespace mos::tpm
