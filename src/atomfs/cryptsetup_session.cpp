#include "atomfs/cryptsetup_session.hpp"

#include <system_error>

#include <fmt/format.h>

namespace mos::atomfs {

void log_to_crypt_log(int level, const char* message, void* user) {
  if (level != CRYPT_LOG_ERROR || message == nullptr) return;
  std::string text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == '.')) text.pop_back();
  static_cast<CryptLog*>(user)->last = std::move(text);
}

void quiet_default_crypt_log() {
  crypt_set_log_callback(nullptr, [](int, const char*, void*) {}, nullptr);
}

std::string crypt_failure(int rc, const CryptLog& log) {
  std::string why = std::error_code(-rc, std::generic_category()).message();
  return log.last.empty() ? why : fmt::format("{} ({})", log.last, why);
}

}  // namespace mos::atomfs
