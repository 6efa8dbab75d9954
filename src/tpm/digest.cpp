#include "tpm/digest.hpp"

#include <cstdlib>

#include <openssl/evp.h>

#include "trust/openssl.hpp"

namespace mos::tpm {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Sha256 sha256_of_parts(std::initializer_list<std::string_view> parts) {
  Sha256 out{};
  trust::MdCtxPtr md(EVP_MD_CTX_new());
  bool ok = md && EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) == 1;
  for (std::string_view part : parts)
    ok = ok && EVP_DigestUpdate(md.get(), part.data(), part.size()) == 1;
  unsigned int length = 0;
  ok = ok && EVP_DigestFinal_ex(md.get(), out.data(), &length) == 1 && length == out.size();
  if (!ok) std::abort();  // only without memory for the context (see the header)
  return out;
}

Sha256 sha256(std::string_view bytes) {
  return sha256_of_parts({bytes});
}

Sha256 extend(const Sha256& pcr, const Sha256& digest) {
  return sha256_of_parts({bytes_of(pcr), bytes_of(digest)});
}

std::string to_hex(const Sha256& value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(value.size() * 2);
  for (std::uint8_t byte : value) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0x0f];
  }
  return hex;
}

Result<Sha256> parse_sha256_hex(std::string_view text, std::string_view what) {
  if (text.size() != kSha256Size * 2)
    return fail("{} must be 64 hex digits (a SHA-256 value), found {} characters", what,
                text.size());
  Sha256 out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    int high = hex_value(text[2 * i]);
    int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0)
      return fail("{} must be 64 hex digits (a SHA-256 value), found '{}' at position {}", what,
                  text.substr(high < 0 ? 2 * i : 2 * i + 1, 1), high < 0 ? 2 * i : 2 * i + 1);
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return out;
}

Result<Sha256> sha256_from_bytes(std::string_view bytes, std::string_view what) {
  if (bytes.size() != kSha256Size)
    return fail("{} must hold exactly 32 bytes (a SHA-256 value), it has {}", what, bytes.size());
  Sha256 out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(bytes[i]);
  return out;
}

}  // namespace mos::tpm
