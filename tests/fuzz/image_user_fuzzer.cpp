// libFuzzer target: an image's User with its /etc/passwd and /etc/group (untrusted: they come
// from the image), as boot resolves them before a container starts. Input: USER \0 PASSWD \0
// GROUP.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/container_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto first = input.find('\0');
  std::string_view user = input.substr(0, first);
  std::string_view rest = first == std::string_view::npos ? "" : input.substr(first + 1);
  auto second = rest.find('\0');
  std::string_view passwd = rest.substr(0, second);
  std::string_view group = second == std::string_view::npos ? "" : rest.substr(second + 1);
  auto ids = mos::runtime::lookup_user(user, passwd, group);
  if (ids && user.empty() && (ids->uid != 0 || ids->gid != 0)) __builtin_trap();
  return 0;
}
