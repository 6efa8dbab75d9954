#include "trust/openssl.hpp"

#include <openssl/err.h>

namespace mos::trust {

std::string openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    // Keep only the human part: "error:1E08010C:DECODER routines::unsupported" → "unsupported".
    std::string_view text(buffer);
    if (auto pos = text.rfind(':'); pos != std::string_view::npos && pos + 1 < text.size())
      text.remove_prefix(pos + 1);
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
