#include "trust/openssl.hpp"

#include <openssl/err.h>

namespace mos::trust {

std::string openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    // Only the reason ("unsupported", "bad signature"), never the code and library prefix, and
    // not the "RSA lib"/"EVP lib" entries that merely say an inner call failed.
    const char* reason = ERR_reason_error_string(code);
    if (!reason) continue;
    std::string_view text(reason);
    if (text.ends_with(" lib") || out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

std::string openssl_reason(std::string_view fallback) {
  std::string reason = openssl_errors();
  return reason.empty() ? std::string(fallback) : reason;
}

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace mos::trust
