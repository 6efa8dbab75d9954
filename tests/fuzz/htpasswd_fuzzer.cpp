// libFuzzer target: the two things a client controls or an operator mistypes in mos-registry's
// authentication, Authorization header values and htpasswd files. The input's first line is
// the header value, the rest the file. Parsing only: crypt(3) is not called (bcrypt would make
// every input take milliseconds).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "registry/auth.hpp"
#include "registry/htpasswd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto newline = text.find('\n');
  auto credentials = mos::registry::parse_basic_authorization(text.substr(0, newline));
  if (credentials && credentials->user.find(':') != std::string::npos)
    __builtin_trap();  // the user ends at the first colon
  if (newline == std::string_view::npos) return 0;
  auto table = mos::registry::parse_htpasswd(text.substr(newline + 1), "fuzz");
  if (table) {
    for (const auto& [user, hash] : table->hashes)
      if (user.empty() || hash.empty() || user.find(':') != std::string::npos) __builtin_trap();
  }
  return 0;
}
